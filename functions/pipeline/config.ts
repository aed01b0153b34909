/**
 * The pipeline's configuration: every environment variable the segment function reads, read once,
 * validated, and passed inward as a typed object. Nothing else in functions/ touches `process.env`
 * (Powertools and the AWS SDK read their own variables: POWERTOOLS_*, AWS_REGION, credentials).
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `INPUT_BUCKET` | required | bucket the uploads land in (events from other buckets are refused) |
 * | `OUTPUT_BUCKET` | `INPUT_BUCKET` | bucket results and status documents go to |
 * | `STORAGE_BACKEND` | `s3` | `s3`, or `local`: each bucket is the directory `LOCAL_STORAGE_DIR/<bucket>` |
 * | `LOCAL_STORAGE_DIR` | required when local | root directory of the local buckets |
 * | `S3_ENDPOINT_URL` | AWS | an S3-compatible server (s3rver, MinIO): path-style, checksums only when required |
 * | `AWS_REGION` | set by Lambda | the region of the AWS clients; `us-east-1` for an S3-compatible server when unset |
 * | `ENDPOINT_NAME` | one of the two | the SageMaker endpoint to invoke |
 * | `MODEL_SERVER_URL` | one of the two | the model server's base URL (local runs) |
 * | `ENDPOINT_MODE` | `realtime` | `realtime` (InvokeEndpoint), or `async` (InvokeEndpointAsync through S3)¹ |
 * | `ASYNC_BUCKET` | required when async | bucket the async requests are written to (the endpoint's role reads them) |
 * | `ASYNC_PREFIX` | `async/` | key prefix of the async requests, ending with `/` (infra expires it after a day) |
 * | `ASYNC_TIMEOUT_MS` | 600000 | one async call's deadline, long enough for an instance to start; at most 840000 |
 * | `ASYNC_POLL_MAX_MS` | 5000 | longest wait between two polls for an async answer (the first wait is 250 ms) |
 * | `ASYNC_RETRY_DELAY_SECONDS` | 60 | when an image whose async call outlived its deadline comes back² |
 * | `MODEL_PROFILE` | the endpoint's | `fast` or `accurate` |
 * | `MODEL_THRESHOLDS` | the manifest's | JSON threshold overrides, as `thresholds` of the endpoint's request |
 * | `TILE_WIDTH`, `TILE_HEIGHT`, `TILE_OVERLAP` | 704, 520, 128 | tiling of large images |
 * | `MAX_CONCURRENT_TILES` | 4 | endpoint calls in flight per function instance, all images together |
 * | `ENDPOINT_TIMEOUT_MS` | 60000 | one real-time or HTTP call's deadline (SageMaker's own limit is 60 s) |
 * | `ENDPOINT_MAX_ATTEMPTS` | 5 | attempts per tile, the first included |
 * | `ENDPOINT_RETRY_BASE_MS`, `ENDPOINT_RETRY_MAX_MS` | 200, 10000 | backoff between attempts |
 * | `MAX_IMAGE_PIXELS` | 50000000 | larger images fail as `image_too_large` |
 * | `CLAIM_TTL_SECONDS` | 900 | how long a run's claim holds if its worker dies (Lambda's longest run) |
 * | `OVERLAY_STYLE` | `outline` | `outline` or `tint` |
 *
 * ¹ `async` is for an endpoint that scales to zero, and needs `ENDPOINT_NAME`.
 * ² An image whose async call outlived its deadline (the endpoint still starting) comes back this soon, not after
 * the queue's visibility timeout.
 */
import { z } from "zod";
import { DEFAULT_MAX_PIXELS } from "../../core/image/decode";
import { OVERLAY_STYLES } from "../../core/outputs/overlay-png";
import { thresholdOverridesSchema } from "../../core/schemas/endpoint";
import { PROFILES } from "../../core/schemas/manifest";
import { DEFAULT_TILING } from "../../core/tiling/tiles";
import {
  type Environment,
  type EnvironmentValues,
  integer,
  nonEmpty,
  parseEnvironment,
} from "../../plumbing/environment";
import { ConfigError } from "../../plumbing/errors";
import type { PipelineSettings } from "./types";
import type { RetryPolicy } from "./endpoint/retry";

export type StorageConfig =
  | { readonly kind: "s3"; readonly endpointUrl?: string }
  | { readonly kind: "local"; readonly directory: string };
export type EndpointConfig =
  | { readonly kind: "sagemaker"; readonly name: string }
  | {
      readonly kind: "sagemaker-async";
      readonly name: string;
      readonly bucket: string;
      /** Ends with `/`. */
      readonly prefix: string;
      readonly maxPollMs: number;
      /** An image whose call outlived its deadline while the endpoint was starting is retried this soon. */
      readonly retryDelaySeconds: number;
    }
  | { readonly kind: "http"; readonly url: string };

export interface PipelineConfig {
  readonly inputBucket: string;
  readonly outputBucket: string;
  /** The AWS clients' region; undefined leaves it to the SDK. */
  readonly region?: string;
  readonly storage: StorageConfig;
  readonly endpoint: EndpointConfig;
  /** One call's deadline: `ASYNC_TIMEOUT_MS` for an async endpoint, `ENDPOINT_TIMEOUT_MS` otherwise. */
  readonly endpointTimeoutMs: number;
  readonly retry: RetryPolicy;
  /** Bound on endpoint calls in flight per function instance. */
  readonly maxConcurrentTiles: number;
  readonly settings: PipelineSettings;
}

/** One schema per variable, so an error can name the variable. */
const variables = {
  INPUT_BUCKET: nonEmpty,
  OUTPUT_BUCKET: nonEmpty.optional(),
  STORAGE_BACKEND: z.enum(["s3", "local"]).default("s3"),
  LOCAL_STORAGE_DIR: nonEmpty.optional(),
  S3_ENDPOINT_URL: z.url().optional(),
  AWS_REGION: nonEmpty.optional(),
  ENDPOINT_NAME: nonEmpty.optional(),
  MODEL_SERVER_URL: z.url().optional(),
  ENDPOINT_MODE: z.enum(["realtime", "async"]).default("realtime"),
  ASYNC_BUCKET: nonEmpty.optional(),
  ASYNC_PREFIX: nonEmpty
    .refine((prefix) => prefix.endsWith("/"), "must end with /")
    .refine((prefix) => !prefix.startsWith("/"), "must not start with /")
    .default("async/"),
  // Below Lambda's 15 minutes, with a minute left to write the job's outputs.
  ASYNC_TIMEOUT_MS: integer(1, 840_000).default(600_000),
  ASYNC_POLL_MAX_MS: integer(1, 60_000).default(5_000),
  // An instance started from zero has had the whole deadline to come up: a minute later it serves.
  ASYNC_RETRY_DELAY_SECONDS: integer(0, 43_200).default(60),
  MODEL_PROFILE: z.enum(PROFILES).optional(),
  MODEL_THRESHOLDS: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "must be JSON" });
        return z.NEVER;
      }
    })
    .pipe(thresholdOverridesSchema)
    .optional(),
  TILE_WIDTH: integer(32, 8192).default(DEFAULT_TILING.tileWidth),
  TILE_HEIGHT: integer(32, 8192).default(DEFAULT_TILING.tileHeight),
  TILE_OVERLAP: integer(0, 4096).default(DEFAULT_TILING.overlap),
  MAX_CONCURRENT_TILES: integer(1, 256).default(4),
  ENDPOINT_TIMEOUT_MS: integer(1, 600_000).default(60_000),
  ENDPOINT_MAX_ATTEMPTS: integer(1, 20).default(5),
  ENDPOINT_RETRY_BASE_MS: integer(0, 60_000).default(200),
  ENDPOINT_RETRY_MAX_MS: integer(0, 600_000).default(10_000),
  MAX_IMAGE_PIXELS: integer(1, 2 ** 31 - 1).default(DEFAULT_MAX_PIXELS),
  CLAIM_TTL_SECONDS: integer(1, 86_400).default(900),
  OVERLAY_STYLE: z.enum(OVERLAY_STYLES).default("outline"),
} as const;

/**
 * Reads and validates the pipeline's environment variables.
 *
 * @throws ConfigError naming every malformed or missing variable.
 * @example
 * ```ts
 * const config = loadPipelineConfig(process.env);
 * const pipeline = wirePipeline(config, logger);
 * ```
 */
export function loadPipelineConfig(env: Environment): PipelineConfig {
  const parsed = parseEnvironment(variables, env);
  if (!parsed.ok) throw ConfigError.invalidEnvironment(parsed.problems);
  const v = parsed.values;
  // The variables together, once each is well formed.
  const problems: string[] = [];
  if (v.STORAGE_BACKEND === "local" && v.LOCAL_STORAGE_DIR === undefined)
    problems.push("LOCAL_STORAGE_DIR must be set when STORAGE_BACKEND=local");
  if (v.ENDPOINT_MODE === "async") {
    if (v.ENDPOINT_NAME === undefined || v.MODEL_SERVER_URL !== undefined) {
      problems.push(
        "ENDPOINT_MODE=async needs ENDPOINT_NAME (a SageMaker asynchronous endpoint) and no " +
          "MODEL_SERVER_URL: the model server has no asynchronous mode",
      );
    }
    if (v.ASYNC_BUCKET === undefined) problems.push("ASYNC_BUCKET must be set when ENDPOINT_MODE=async");
  } else if ((v.ENDPOINT_NAME === undefined) === (v.MODEL_SERVER_URL === undefined)) {
    problems.push("set exactly one of ENDPOINT_NAME (SageMaker) and MODEL_SERVER_URL (a model server over HTTP)");
  }
  if (v.TILE_OVERLAP >= Math.min(v.TILE_WIDTH, v.TILE_HEIGHT))
    problems.push(`TILE_OVERLAP=${v.TILE_OVERLAP} must be smaller than TILE_WIDTH and TILE_HEIGHT`);
  if (v.ENDPOINT_RETRY_BASE_MS > v.ENDPOINT_RETRY_MAX_MS)
    problems.push("ENDPOINT_RETRY_BASE_MS must not exceed ENDPOINT_RETRY_MAX_MS");
  if (problems.length > 0) throw ConfigError.invalidEnvironment(problems);
  return {
    inputBucket: v.INPUT_BUCKET,
    outputBucket: v.OUTPUT_BUCKET ?? v.INPUT_BUCKET,
    ...(v.AWS_REGION ? { region: v.AWS_REGION } : {}),
    storage:
      v.STORAGE_BACKEND === "local"
        ? { kind: "local", directory: v.LOCAL_STORAGE_DIR! }
        : { kind: "s3", ...(v.S3_ENDPOINT_URL ? { endpointUrl: v.S3_ENDPOINT_URL } : {}) },
    endpoint: endpointConfig(v),
    endpointTimeoutMs: v.ENDPOINT_MODE === "async" ? v.ASYNC_TIMEOUT_MS : v.ENDPOINT_TIMEOUT_MS,
    retry: {
      maxAttempts: v.ENDPOINT_MAX_ATTEMPTS,
      baseDelayMs: v.ENDPOINT_RETRY_BASE_MS,
      maxDelayMs: v.ENDPOINT_RETRY_MAX_MS,
    },
    maxConcurrentTiles: v.MAX_CONCURRENT_TILES,
    settings: {
      tiling: { tileWidth: v.TILE_WIDTH, tileHeight: v.TILE_HEIGHT, overlap: v.TILE_OVERLAP },
      maxConcurrentTiles: v.MAX_CONCURRENT_TILES,
      maxPixels: v.MAX_IMAGE_PIXELS,
      claimTtlMs: v.CLAIM_TTL_SECONDS * 1000,
      overlayStyle: v.OVERLAY_STYLE,
      ...(v.MODEL_PROFILE ? { profile: v.MODEL_PROFILE } : {}),
      ...(v.MODEL_THRESHOLDS ? { thresholds: v.MODEL_THRESHOLDS } : {}),
    },
  };
}

/** The endpoint the variables choose, once they are known to be consistent. */
function endpointConfig(v: EnvironmentValues<typeof variables>): EndpointConfig {
  if (v.ENDPOINT_MODE === "async") {
    return {
      kind: "sagemaker-async",
      name: v.ENDPOINT_NAME!,
      bucket: v.ASYNC_BUCKET!,
      prefix: v.ASYNC_PREFIX,
      maxPollMs: v.ASYNC_POLL_MAX_MS,
      retryDelaySeconds: v.ASYNC_RETRY_DELAY_SECONDS,
    };
  }
  return v.ENDPOINT_NAME !== undefined
    ? { kind: "sagemaker", name: v.ENDPOINT_NAME }
    : { kind: "http", url: v.MODEL_SERVER_URL! };
}
