/**
 * The batch pipeline's documents: the job status document (`status.json`) and the `instances.json` result.
 * The segment function writes them and the API (and any other reader) reads them, with these schemas;
 * where they are stored is object-keys.ts's.
 */
import { z } from "zod";
import { CELL_TYPES } from "../types";
import { PROFILES } from "./manifest";
import {
  jobFileNameSchema,
  jobIdSchema,
  LATER_RESULT_KINDS,
  RESULT_FILES,
  sourceObjectSchema,
  type ResultKind,
} from "./object-keys";

/** Machine-readable codes of a failed job; `retryable` failures are retried by redelivering the event. */
export const JOB_ERROR_CODES = {
  /** The bytes are not an image we can read. */
  invalidImage: "invalid_image",
  /** The image has more pixels than the pipeline accepts. */
  imageTooLarge: "image_too_large",
  /** Another problem with the input that the user can fix. */
  invalidInput: "invalid_input",
  /** The model endpoint refused a tile (4xx): retrying the same request would not help. */
  endpointRejected: "endpoint_rejected",
  /** The model endpoint kept failing (throttling, 5xx, timeouts) after every retry. */
  endpointUnavailable: "endpoint_unavailable",
  /** A bug or an unexpected failure of the pipeline itself. */
  internal: "internal",
} as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[keyof typeof JOB_ERROR_CODES];

/** Failures the input itself causes: the same upload fails the same way on every try. */
export const INPUT_ERROR_CODES: readonly JobErrorCode[] = [
  JOB_ERROR_CODES.invalidImage,
  JOB_ERROR_CODES.imageTooLarge,
  JOB_ERROR_CODES.invalidInput,
];

export const JOB_STATUSES = ["queued", "running", "succeeded", "failed"] as const;
export type JobStatusName = (typeof JOB_STATUSES)[number];

const timestamp = z.iso.datetime();

/** Milliseconds per stage of a job, measured by the pipeline. */
export const jobTimingsSchema = z.object({
  readMs: z.number().min(0),
  decodeMs: z.number().min(0),
  /** Wall time of all tile invocations, retries and waits for a slot included. */
  segmentMs: z.number().min(0),
  /** Sum over tiles of the endpoint's own `timings.inferenceMs`. */
  inferenceMs: z.number().min(0),
  stitchMs: z.number().min(0),
  /** Encoding the result formats. */
  renderMs: z.number().min(0),
  writeMs: z.number().min(0),
  totalMs: z.number().min(0),
});
export type JobTimings = z.infer<typeof jobTimingsSchema>;

const cellCountsSchema = z.partialRecord(z.enum(CELL_TYPES), z.number().int().nonnegative());

const jobBase = {
  schemaVersion: z.literal(1),
  jobId: jobIdSchema,
  fileName: jobFileNameSchema,
  imageId: z.string().min(1),
  source: sourceObjectSchema,
  updatedAt: timestamp,
};

/** Fields of a job that a run is working on or has finished. */
const runBase = {
  ...jobBase,
  runId: z.string().regex(/^[0-9a-f]{20}$/),
  /** Which delivery of the event this run was (SQS's ApproximateReceiveCount), from 1. */
  attempt: z.number().int().positive(),
  startedAt: timestamp,
};

/**
 * The job status document, `output/<jobId>/<fileName>/status.json`. `queued` is written by whoever
 * accepted the upload (the API); `running`, `succeeded` and `failed` by the segment function. A
 * `succeeded` document names the result keys, which exist and are complete before it is written.
 *
 * @example
 * ```ts
 * const status = jobStatusSchema.parse(JSON.parse(text));
 * if (status.status === "succeeded") console.log(status.cells, status.results.coco);
 * if (status.status === "failed") console.log(status.error.code, status.error.message);
 * ```
 */
export const jobStatusSchema = z.discriminatedUnion("status", [
  z.object({ ...jobBase, status: z.literal("queued"), createdAt: timestamp }),
  z.object({ ...runBase, status: z.literal("running") }),
  z.object({
    ...runBase,
    status: z.literal("succeeded"),
    finishedAt: timestamp,
    width: z.number().int().positive(),
    height: z.number().int().positive(),
    /** The cell type most instances have, or null when no cell was found. */
    cellType: z.enum(CELL_TYPES).nullable(),
    cells: z.number().int().nonnegative(),
    cellsPerType: cellCountsSchema,
    tiles: z.number().int().positive(),
    modelVersion: z.string(),
    manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
    profile: z.enum(PROFILES),
    timings: jobTimingsSchema,
    results: z.object({
      ...(Object.fromEntries(Object.keys(RESULT_FILES).map((kind) => [kind, z.string().min(1)])) as {
        [K in ResultKind]: z.ZodString;
      }),
      ...(Object.fromEntries(LATER_RESULT_KINDS.map((kind) => [kind, z.string().min(1).optional()])) as {
        [K in (typeof LATER_RESULT_KINDS)[number]]: z.ZodOptional<z.ZodString>;
      }),
    }),
    /** Micrometres per pixel the measurements used (the job's, else the image's own); absent when unknown. */
    pixelSizeUm: z.number().positive().optional(),
  }),
  z.object({
    ...runBase,
    status: z.literal("failed"),
    finishedAt: timestamp,
    error: z.object({
      code: z.enum(Object.values(JOB_ERROR_CODES) as [JobErrorCode, ...JobErrorCode[]]),
      message: z.string().min(1),
      /** True when redelivering the event may succeed (the endpoint was unavailable); false for a bad input. */
      retryable: z.boolean(),
    }),
  }),
]);
export type JobStatus = z.infer<typeof jobStatusSchema>;

/** One cell of `instances.json`; `id` is its value in `labels.png` and its COCO annotation id. */
export const resultInstanceSchema = z.object({
  id: z.number().int().positive(),
  cellType: z.enum(CELL_TYPES),
  score: z.number().min(0).max(1),
  /** x1, y1, x2, y2 (exclusive) of the cell's mask in image pixels. */
  box: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  area: z.number().int().positive(),
  /** Kaggle RLE (1-based starts, row-major) over the whole image. */
  rle: z.string().min(1),
  /** Index of the tile (row-major) whose view of the cell was kept. */
  tile: z.number().int().nonnegative(),
});

/**
 * `instances.json`: every cell of one image, disjoint, in descending score order.
 *
 * @example
 * ```ts
 * const doc = instancesDocumentSchema.parse(JSON.parse(text));
 * const masks = doc.instances.map((cell) => decodeKaggleRle(cell.rle, doc.width, doc.height));
 * ```
 */
export const instancesDocumentSchema = z.object({
  schemaVersion: z.literal(1),
  imageId: z.string().min(1),
  fileName: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  modelVersion: z.string(),
  manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
  profile: z.enum(PROFILES),
  cellType: z.enum(CELL_TYPES).nullable(),
  instances: z.array(resultInstanceSchema),
});
export type ResultInstance = z.infer<typeof resultInstanceSchema>;
export type InstancesDocument = z.infer<typeof instancesDocumentSchema>;
