import { z } from "zod";
import { CELL_TYPES } from "../types";
import { PROFILES } from "./manifest";

/**
 * The model endpoint's boundary (`POST /invocations` of the SageMaker container): the JSON request, the
 * JSON response and the error body. The server validates requests with these schemas and the pipeline
 * validates responses with them, so both sides share one definition. Raw image requests (`image/png`,
 * `image/tiff`, `image/jpeg`) carry no options and get the same response.
 */

/** Bounds of the threshold overrides a caller may send: wide enough to tune, narrow enough to stay sane. */
export const THRESHOLD_BOUNDS = {
  score: { min: 0.05, max: 0.95 },
  minArea: { min: 0, max: 20_000 },
  mask: { min: 0.2, max: 0.8 },
} as const;

const scoreThreshold = z.number().min(THRESHOLD_BOUNDS.score.min).max(THRESHOLD_BOUNDS.score.max);
const minArea = z.number().int().min(THRESHOLD_BOUNDS.minArea.min).max(THRESHOLD_BOUNDS.minArea.max);

/** One optional value per cell type; unknown cell types are refused rather than silently ignored. */
const partialPerCellType = <T extends z.ZodType>(value: T) =>
  z.strictObject({ shsy5y: value.optional(), astro: value.optional(), cort: value.optional() });

/** Post-processing overrides; what is left out keeps the manifest's value. The NMS IoU is not tunable. */
export const thresholdOverridesSchema = z.strictObject({
  scoreThresholds: partialPerCellType(scoreThreshold).optional(),
  minAreas: partialPerCellType(minArea).optional(),
  maskThreshold: z.number().min(THRESHOLD_BOUNDS.mask.min).max(THRESHOLD_BOUNDS.mask.max).optional(),
});

/**
 * Where a tile sits in its source image. The endpoint echoes it back untouched: boxes and RLEs stay in
 * the request image's (the tile's) frame, and the caller shifts them when it stitches.
 */
export const tileOriginSchema = z.strictObject({
  x: z.number().int().min(0),
  y: z.number().int().min(0),
});

/**
 * `application/json` body of `POST /invocations`. Unknown keys are refused, so a misspelt option
 * (`treshold`) is an error instead of being silently ignored.
 *
 * @example
 * ```ts
 * const body: InvocationRequest = {
 *   image: (await readFile("tile.png")).toString("base64"),
 *   profile: "accurate",
 *   thresholds: { scoreThresholds: { astro: 0.3 } },
 *   tileOrigin: { x: 512, y: 0 },
 * };
 * invocationRequestSchema.parse(body);
 * ```
 */
export const invocationRequestSchema = z.strictObject({
  /** PNG, TIFF or JPEG bytes, base64-encoded (standard alphabet, padded). */
  image: z.base64("image must be a base64-encoded PNG, TIFF or JPEG").min(1, "image must not be empty"),
  /** Defaults to the server's default profile (see its `/info`). */
  profile: z.enum(PROFILES).optional(),
  thresholds: thresholdOverridesSchema.optional(),
  tileOrigin: tileOriginSchema.optional(),
  /** The image id written in `text/csv` answers (Kaggle's `id` column). @default "image" */
  id: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[^\r\n]*$/, "id must be a single line")
    .optional(),
});

/** The execution providers a server can report. */
export const SERVED_EXECUTION_PROVIDERS = ["cuda", "cpu"] as const;

/** One cell. `box` is [x1, y1, x2, y2] in pixels (x2, y2 exclusive); `rle` is Kaggle RLE over the request image. */
export const endpointInstanceSchema = z.object({
  cellType: z.enum(CELL_TYPES),
  score: z.number().min(0).max(1),
  box: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  area: z.number().int().positive(),
  rle: z.string(),
});

/** Milliseconds per stage of one invocation, as measured by the server. */
export const invocationTimingsSchema = z.object({
  decodeMs: z.number().min(0),
  normalizeMs: z.number().min(0),
  inferenceMs: z.number().min(0),
  postprocessMs: z.number().min(0),
  /** RLE (or CSV) encoding of the answer. */
  encodeMs: z.number().min(0),
  /** Waiting for an inference slot. */
  queueMs: z.number().min(0),
  /** From the request's arrival (body read) to the answer, queueing included. */
  totalMs: z.number().min(0),
});

/**
 * `application/json` answer of `POST /invocations`. Extra keys are allowed, so a newer server does not
 * break an older client.
 *
 * @example
 * ```ts
 * const answer = invocationResponseSchema.parse(await response.json());
 * for (const cell of answer.instances) console.log(cell.cellType, cell.score, cell.rle);
 * ```
 */
export const invocationResponseSchema = z.object({
  modelVersion: z.string(),
  /** sha256 of the served manifest.json: identifies the exact ensemble and thresholds. */
  manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
  profile: z.enum(PROFILES),
  executionProvider: z.enum(SERVED_EXECUTION_PROVIDERS),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  tileOrigin: tileOriginSchema.optional(),
  /** The image's cell type (one per image), or null when no cell was found. */
  cellType: z.enum(CELL_TYPES).nullable(),
  instances: z.array(endpointInstanceSchema),
  timings: invocationTimingsSchema,
});

/**
 * Machine-readable error codes of the endpoint (the HTTP status of each: model-container/src/server/error-status.ts).
 * Clients should treat an unknown code by its HTTP status.
 */
export const ENDPOINT_ERROR_CODES = {
  invalidRequest: "invalid_request",
  invalidImage: "invalid_image",
  imageTooLarge: "image_too_large",
  payloadTooLarge: "payload_too_large",
  unsupportedMediaType: "unsupported_media_type",
  notAcceptable: "not_acceptable",
  notFound: "not_found",
  notReady: "not_ready",
  shuttingDown: "shutting_down",
  queueFull: "queue_full",
  timeout: "timeout",
  modelUnavailable: "model_unavailable",
  internal: "internal",
} as const;
export type EndpointErrorCode = (typeof ENDPOINT_ERROR_CODES)[keyof typeof ENDPOINT_ERROR_CODES];

/**
 * Every non-2xx answer of the endpoint.
 *
 * @example
 * ```ts
 * const { error } = errorBodySchema.parse(await response.json());
 * if (error.code === ENDPOINT_ERROR_CODES.queueFull) await sleep(1000);
 * ```
 */
export const errorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});

export type ThresholdOverrides = z.infer<typeof thresholdOverridesSchema>;
export type TileOrigin = z.infer<typeof tileOriginSchema>;
export type InvocationRequest = z.infer<typeof invocationRequestSchema>;
export type EndpointInstance = z.infer<typeof endpointInstanceSchema>;
export type InvocationTimings = z.infer<typeof invocationTimingsSchema>;
export type InvocationResponse = z.infer<typeof invocationResponseSchema>;
export type ErrorBody = z.infer<typeof errorBodySchema>;
