/**
 * The local stack's configuration (`npm start`): where it listens, where its data lives, and how it
 * stores and segments. Every other variable passes through to the API, the pipeline and the model server
 * unchanged (API_TOKEN, TILE_*, CELLSEG_*; see their config modules).
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `PORT` | 3000 | the API's port (0: any free port) |
 * | `HOST` | 127.0.0.1 | the API's address (`0.0.0.0` to serve other machines: set `API_TOKEN` and `PUBLIC_URL` too) |
 * | `PUBLIC_URL` | `http://<HOST>:<PORT>` | the API's address as other machines reach it: upload links point there |
 * | `CELLSEG_DATA_DIR` | `local-data` | where the local bucket, the logs and dead letters live |
 * | `LOCAL_STORAGE` | `directory` | `directory` (the bucket is a folder) or `s3rver` (S3 protocol on `LOCAL_S3_PORT`) |
 * | `LOCAL_S3_PORT` | 4569 | |
 * | `LOCAL_BUCKET` | `cellseg` | the bucket's name (input and output) |
 * | `MODEL_SERVER_URL` | none | a model server already running; otherwise one is started on `MODEL_SERVER_PORT` |
 * | `MODEL_SERVER_PORT` | 8080 | |
 * | `LOCAL_CONCURRENT_IMAGES` | 1 | images segmented at once (one CPU inference already uses every core) |
 * | `LOCAL_MAX_RECEIVES` | 3 | deliveries of an image's event before it is dead-lettered |
 * | `LOCAL_REDELIVERY_DELAY_MS` | 5000 | wait before a failed image is tried again (doubling) |
 */
import path from "node:path";
import { z } from "zod";
import { integer, nonEmpty, parseEnvironment, type Environment } from "../../plumbing/environment";
import { ConfigError } from "../../plumbing/errors";

export interface LocalStackConfig {
  readonly port: number;
  readonly host: string;
  /** The API's address as clients reach it (upload links); undefined: the address it listens on. */
  readonly publicUrl?: string;
  readonly dataDirectory: string;
  readonly bucket: string;
  readonly storage: { readonly kind: "directory" } | { readonly kind: "s3rver"; readonly port: number };
  readonly modelServer:
    | { readonly kind: "external"; readonly url: string }
    | { readonly kind: "child"; readonly port: number };
  readonly concurrentImages: number;
  readonly maxReceives: number;
  readonly redeliveryDelayMs: number;
}

const variables = {
  PORT: integer(0, 65_535).default(3000),
  HOST: nonEmpty.default("127.0.0.1"),
  PUBLIC_URL: z
    .url()
    .transform((url) => url.replace(/\/+$/, ""))
    .optional(),
  CELLSEG_DATA_DIR: nonEmpty.default("local-data"),
  LOCAL_STORAGE: z.enum(["directory", "s3rver"]).default("directory"),
  LOCAL_S3_PORT: integer(0, 65_535).default(4569),
  LOCAL_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be a valid S3 bucket name")
    .default("cellseg"),
  MODEL_SERVER_URL: z.url().optional(),
  MODEL_SERVER_PORT: integer(0, 65_535).default(8080),
  LOCAL_CONCURRENT_IMAGES: integer(1, 64).default(1),
  LOCAL_MAX_RECEIVES: integer(1, 100).default(3),
  LOCAL_REDELIVERY_DELAY_MS: integer(0, 3_600_000).default(5000),
} as const;

/**
 * @throws ConfigError naming every malformed variable.
 * @example
 * ```ts
 * const config = loadLocalStackConfig(process.env);
 * ```
 */
export function loadLocalStackConfig(env: Environment): LocalStackConfig {
  const parsed = parseEnvironment(variables, env);
  if (!parsed.ok) throw ConfigError.invalidEnvironment(parsed.problems);
  const v = parsed.values;
  return {
    port: v.PORT,
    host: v.HOST,
    ...(v.PUBLIC_URL ? { publicUrl: v.PUBLIC_URL } : {}),
    dataDirectory: path.resolve(v.CELLSEG_DATA_DIR),
    bucket: v.LOCAL_BUCKET,
    storage: v.LOCAL_STORAGE === "s3rver" ? { kind: "s3rver", port: v.LOCAL_S3_PORT } : { kind: "directory" },
    modelServer: v.MODEL_SERVER_URL
      ? { kind: "external", url: v.MODEL_SERVER_URL }
      : { kind: "child", port: v.MODEL_SERVER_PORT },
    concurrentImages: v.LOCAL_CONCURRENT_IMAGES,
    maxReceives: v.LOCAL_MAX_RECEIVES,
    redeliveryDelayMs: v.LOCAL_REDELIVERY_DELAY_MS,
  };
}
