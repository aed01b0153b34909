/**
 * The model server's configuration: every environment variable it reads, read once at start, validated,
 * and passed inward as a typed object. Nothing else in the server touches `process.env`.
 */
import { z } from "zod";
import { type Environment, integer, nonEmpty, parseEnvironment } from "../../../plumbing/environment";
import { ConfigError } from "../../../plumbing/errors";
import { PROFILES, type Profile } from "../../../core/schemas/manifest";
import { EXECUTION_PROVIDERS, type ExecutionProviderChoice } from "../../../inference/types";

export interface ServerConfig {
  /** TCP port; 0 picks a free one (tests). */
  readonly port: number;
  /**
   * The interface to listen on: every one in the container (SageMaker calls it from outside), loopback when a local
   * stack starts it.
   */
  readonly host: string;
  /** Model directory; undefined means `defaultModelDir()` (/opt/ml/model when present, else the bundled models). */
  readonly modelDir: string | undefined;
  readonly executionProvider: ExecutionProviderChoice;
  /** onnxruntime intra-op threads per session; undefined lets onnxruntime use every core. */
  readonly threads: number | undefined;
  /** The CPU runs members' float32 detectors and mask heads, not their int8 ones (the exact exported graphs). */
  readonly float32: boolean;
  /** The profiles to load and serve. */
  readonly profiles: readonly Profile[];
  /**
   * The profile of requests that name none: the first of `CELLSEG_PROFILES` when it is set, else undefined
   * (the manifest's `defaultProfile`).
   */
  readonly defaultProfile: Profile | undefined;
  /** Inferences run at the same time: one worker thread each, each with its own sessions (memory x N). */
  readonly maxConcurrency: number;
  /** Requests that may wait for an inference slot; more are refused with 503. */
  readonly maxQueue: number;
  /** Largest request body, in bytes (413 above). */
  readonly maxBodyBytes: number;
  /** Largest image, in pixels, checked from its header before decoding (413 above). */
  readonly maxPixels: number;
  /** Deadline of a request from the moment it is queued (504 after). */
  readonly requestTimeoutMs: number;
}

const MIB = 1024 * 1024;

/**
 * One schema per variable, keyed by its name, so an error can name the variable. Defaults are documented
 * where they are chosen.
 */
/** Inferences at once and requests waiting, by default: a server admits their sum and refuses more (503). */
export const DEFAULT_MAX_CONCURRENCY = 1;
export const DEFAULT_MAX_QUEUE = 16;

const variables = {
  /** SageMaker's contract port. */
  PORT: integer(0, 65_535).default(8080),
  CELLSEG_HOST: nonEmpty.default("0.0.0.0"),
  CELLSEG_MODEL_DIR: nonEmpty.optional(),
  CELLSEG_EXECUTION_PROVIDER: z.enum(EXECUTION_PROVIDERS).default("auto"),
  CELLSEG_THREADS: integer(1, 1024).optional(),
  CELLSEG_FLOAT32: z
    .enum(["0", "1"], { message: "must be 1 or 0" })
    .default("0")
    .transform((value) => value === "1"),
  CELLSEG_PROFILES: z
    .string()
    .optional()
    .transform((list) => list ?? PROFILES.join(","))
    .transform((list) => [
      ...new Set(
        list
          .split(",")
          .map((name) => name.trim())
          .filter(Boolean),
      ),
    ])
    .pipe(z.array(z.enum(PROFILES)).min(1, "must name at least one profile")),
  // One inference at a time: onnxruntime already spreads one over every core (or the whole GPU), and
  // two would only compete for them while doubling the memory held (each worker loads its own sessions).
  CELLSEG_MAX_CONCURRENCY: integer(1, 64).default(DEFAULT_MAX_CONCURRENCY),
  CELLSEG_MAX_QUEUE: integer(0, 10_000).default(DEFAULT_MAX_QUEUE),
  // A 16-bit 2048x2048 TIFF tile is 8 MiB; base64 JSON adds a third. 50 MiB leaves room for larger
  // tiles while keeping 16 queued bodies under a gigabyte.
  CELLSEG_MAX_BODY_BYTES: integer(1, 2 ** 31 - 1).default(50 * MIB),
  // The endpoint segments one image or tile, never a whole slide: 25 megapixels (5000x5000) is far above
  // any tile, and decoding it (16 bits) plus the model input (3 channels, float32, upscaled) stays within
  // a few GiB.
  CELLSEG_MAX_PIXELS: integer(1, 2 ** 31 - 1).default(25_000_000),
  // SageMaker gives up on InvokeEndpoint after 60 s, so answering later than that is useless.
  CELLSEG_REQUEST_TIMEOUT_MS: integer(1, 3_600_000).default(60_000),
} as const;

/**
 * Reads and validates the server's environment variables.
 *
 * @throws ConfigError naming every malformed variable and its value.
 * @example
 * ```ts
 * const config = loadConfig(process.env);
 * serve({ fetch: app.fetch, port: config.port });
 * ```
 */
export function loadConfig(env: Environment): ServerConfig {
  const parsed = parseEnvironment(variables, env);
  if (!parsed.ok) throw ConfigError.invalidEnvironment(parsed.problems);
  const v = parsed.values;
  return {
    port: v.PORT,
    host: v.CELLSEG_HOST,
    modelDir: v.CELLSEG_MODEL_DIR,
    executionProvider: v.CELLSEG_EXECUTION_PROVIDER,
    threads: v.CELLSEG_THREADS,
    float32: v.CELLSEG_FLOAT32,
    profiles: v.CELLSEG_PROFILES,
    defaultProfile: env.CELLSEG_PROFILES === undefined ? undefined : v.CELLSEG_PROFILES[0],
    maxConcurrency: v.CELLSEG_MAX_CONCURRENCY,
    maxQueue: v.CELLSEG_MAX_QUEUE,
    maxBodyBytes: v.CELLSEG_MAX_BODY_BYTES,
    maxPixels: v.CELLSEG_MAX_PIXELS,
    requestTimeoutMs: v.CELLSEG_REQUEST_TIMEOUT_MS,
  };
}
