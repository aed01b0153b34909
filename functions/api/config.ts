/**
 * The API function's configuration: the pipeline's variables (storage, endpoint, tiling: the API uses
 * them for `POST /v1/segment` and to find jobs; see functions/pipeline/config.ts) plus its own, read once
 * and validated. Nothing else in functions/api touches `process.env`.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `UPLOAD_URL_TTL_SECONDS` | 3600 | how long upload links stay valid (S3 allows at most 7 days) |
 * | `RESULT_URL_TTL_SECONDS` | 900 | how long result download links stay valid |
 * | `MAX_FILES_PER_JOB` | 1536 | images per job (a 1536-well plate) |
 * | `MAX_UPLOAD_BYTES` | 268435456 | local uploads (`PUT /v1/uploads/{token}`); the pixel limit bounds S3 uploads |
 * | `MAX_SYNC_IMAGE_BYTES` | 4194304 | `POST /v1/segment` body (Lambda's 6 MB payload holds it base64-encoded) |
 * | `MAX_SYNC_IMAGE_PIXELS` | 4194304 | `POST /v1/segment` image size: "small images" (larger ones go through a job) |
 * | `SYNC_TIMEOUT_MS` | 25000 | `POST /v1/segment` deadline (API Gateway gives up at 29 s) |
 * | `COST_ENDPOINT_USD_PER_HOUR` | 0.7364 | the endpoint's hourly price (infra's default, ml.g4dn.xlarge, us-east-1) |
 * | `COST_FUNCTION_USD_PER_SECOND` | 0.0000391669 | the segment function's price per second (3008 MB arm64) |
 * | `CORS_ALLOW_ORIGINS` | none | comma-separated origins whose pages may call the API (the deployed web console's) |
 * | `API_TOKEN` | none | when set, `/v1` requests need `Authorization: Bearer <token>` (local runs; AWS uses IAM) |
 *
 * `API_TOKEN` leaves the OpenAPI document and uploads (`PUT /v1/uploads/{token}`, signed links) open.
 */
import { z } from "zod";
import { integer, parseEnvironment, type Environment } from "../../plumbing/environment";
import type { ComputePricing } from "../jobs/compute-cost";
import { ConfigError } from "../../plumbing/errors";
import { loadPipelineConfig, type PipelineConfig } from "../pipeline/config";

export interface ApiConfig {
  readonly pipeline: PipelineConfig;
  readonly uploadUrlTtlSeconds: number;
  readonly resultUrlTtlSeconds: number;
  readonly maxFilesPerJob: number;
  readonly maxUploadBytes: number;
  readonly sync: { readonly maxBytes: number; readonly maxPixels: number; readonly timeoutMs: number };
  readonly pricing: ComputePricing;
  readonly bearerToken?: string;
  /** Origins allowed to call the API from a browser (CORS); none: same-origin pages only. */
  readonly corsAllowOrigins: readonly string[];
}

const price = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/, "must be a decimal number")
  .transform(Number);

const variables = {
  UPLOAD_URL_TTL_SECONDS: integer(1, 7 * 24 * 3600).default(3600),
  RESULT_URL_TTL_SECONDS: integer(1, 7 * 24 * 3600).default(900),
  MAX_FILES_PER_JOB: integer(1, 10_000).default(1536),
  MAX_UPLOAD_BYTES: integer(1).default(256 * 1024 * 1024),
  MAX_SYNC_IMAGE_BYTES: integer(1, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  MAX_SYNC_IMAGE_PIXELS: integer(1).default(4 * 1024 * 1024),
  SYNC_TIMEOUT_MS: integer(1, 600_000).default(25_000),
  COST_ENDPOINT_USD_PER_HOUR: price.default(0.7364),
  COST_FUNCTION_USD_PER_SECOND: price.default(0.0000391669),
  API_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  CORS_ALLOW_ORIGINS: z
    .string()
    .transform((list) =>
      list
        .split(",")
        .map((origin) => origin.trim())
        .filter((origin) => origin !== ""),
    )
    .pipe(
      z.array(
        z
          .url({ protocol: /^https?$/ })
          .refine((origin) => new URL(origin).origin === origin, "an origin is scheme://host[:port], no path"),
      ),
    )
    .default([]),
} as const;

/**
 * @throws ConfigError naming every malformed or missing variable (the pipeline's included).
 * @example
 * ```ts
 * const app = createApi(wireApi(loadApiConfig(process.env), logger));
 * ```
 */
export function loadApiConfig(env: Environment): ApiConfig {
  const parsed = parseEnvironment(variables, env);
  let pipeline: PipelineConfig | undefined;
  const problems = parsed.ok ? [] : [...parsed.problems];
  try {
    pipeline = loadPipelineConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.unshift(...error.problems);
  }
  if (!parsed.ok || pipeline === undefined) throw ConfigError.invalidEnvironment(problems);
  const v = parsed.values;
  return {
    pipeline,
    uploadUrlTtlSeconds: v.UPLOAD_URL_TTL_SECONDS,
    resultUrlTtlSeconds: v.RESULT_URL_TTL_SECONDS,
    maxFilesPerJob: v.MAX_FILES_PER_JOB,
    maxUploadBytes: v.MAX_UPLOAD_BYTES,
    sync: {
      maxBytes: v.MAX_SYNC_IMAGE_BYTES,
      maxPixels: Math.min(v.MAX_SYNC_IMAGE_PIXELS, pipeline.settings.maxPixels),
      timeoutMs: v.SYNC_TIMEOUT_MS,
    },
    pricing: { endpointUsdPerHour: v.COST_ENDPOINT_USD_PER_HOUR, functionUsdPerSecond: v.COST_FUNCTION_USD_PER_SECOND },
    ...(v.API_TOKEN ? { bearerToken: v.API_TOKEN } : {}),
    corsAllowOrigins: v.CORS_ALLOW_ORIGINS,
  };
}
