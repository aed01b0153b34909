import { createHash } from "node:crypto";
import { z } from "zod";
import { CELL_TYPES } from "../types";
import { PROFILES } from "./manifest";

/**
 * The batch pipeline's boundaries: where objects live in the buckets (the key layout), the job status
 * document and the `instances.json` result. The segment function writes these and the API (and any other
 * reader) reads them, with these schemas.
 *
 * ## Key layout
 *
 * ```text
 * input/<jobId>/<fileName>                                  the uploaded image (never modified or deleted)
 * output/<jobId>/<fileName>/status.json                     the job status document: read this first
 * output/<jobId>/<fileName>/runs/<runId>/instances.json     results of one run, written before the status
 * output/<jobId>/<fileName>/runs/<runId>/submission.csv       document that names them, so a reader that
 * output/<jobId>/<fileName>/runs/<runId>/coco.json            follows status.json never sees a half-written
 * output/<jobId>/<fileName>/runs/<runId>/labels.png           result set
 * output/<jobId>/<fileName>/runs/<runId>/overlay.png
 * output/<jobId>/<fileName>/runs/<runId>/preview.png
 * output/<jobId>/<fileName>/runs/<runId>/measurements.csv
 * output/<jobId>/<fileName>/runs/<runId>/summary.csv
 * output/<jobId>/<fileName>/runs/<runId>/outlines.geojson
 * output/<jobId>/<fileName>/runs/<runId>/claims/<n>.json    who is working on the run (idempotency)
 * jobs/<jobId>/job.json                                     the files a job created by the API expects
 * jobs/<jobId>/results/submission-<digest>.csv              the job's images in one Kaggle CSV (API)
 * jobs/<jobId>/results/measurements-<digest>.csv            ... in one measurements.csv (API)
 * jobs/<jobId>/results/summary-<digest>.csv                 ... in one summary.csv, a row per image (API)
 * ```
 *
 * `<fileName>` may contain `/` (folders inside a job); `<runId>` is derived from the uploaded object's
 * version ({@link runIdOf}), so the same version always maps to the same run and a new upload to a new one.
 * Input and output may be one bucket or two.
 */

/** Top-level prefixes of the layout. */
export const KEY_PREFIXES = { input: "input/", output: "output/", jobs: "jobs/" } as const;

/** The result files of a run, by kind. */
export const RESULT_FILES = {
  instances: "instances.json",
  submission: "submission.csv",
  coco: "coco.json",
  labels: "labels.png",
  overlay: "overlay.png",
  preview: "preview.png",
  measurements: "measurements.csv",
  summary: "summary.csv",
  outlines: "outlines.geojson",
} as const;
export type ResultKind = keyof typeof RESULT_FILES;

/** The content type each result file is stored (and served) with. */
export const RESULT_CONTENT_TYPES: { readonly [K in ResultKind]: string } = {
  instances: "application/json",
  submission: "text/csv; charset=utf-8",
  coco: "application/json",
  labels: "image/png",
  overlay: "image/png",
  preview: "image/png",
  measurements: "text/csv; charset=utf-8",
  summary: "text/csv; charset=utf-8",
  outlines: "application/geo+json",
};

/** Result files that runs from before measurements existed lack: their status documents name none. */
export const MEASUREMENT_RESULT_KINDS = ["measurements", "summary", "outlines"] as const satisfies readonly ResultKind[];

/** Result files that runs of earlier versions may lack: the measurements' and the preview (added after them). */
export const LATER_RESULT_KINDS = [...MEASUREMENT_RESULT_KINDS, "preview"] as const satisfies readonly ResultKind[];

/** The CSV results whose files a job's images share one header of, so the API merges them for the whole job. */
export const MERGEABLE_RESULT_KINDS = ["submission", "measurements", "summary"] as const satisfies readonly ResultKind[];
export type MergeableResultKind = (typeof MERGEABLE_RESULT_KINDS)[number];

/** The longest file or folder name file systems accept. */
const MAX_SEGMENT_BYTES = 255;

/** A job id: what the API generates (a UUID) or a folder name a user chose. */
export const jobIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "a job id is 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit");

/**
 * A file's path inside its job: `/`-separated segments, none empty or hidden (starting with `.`: that
 * also rules out `.` and `..`, and keeps `.DS_Store` and editors' swap files out of jobs), no control
 * characters.
 */
export const jobFileNameSchema = z
  .string()
  .max(512)
  .refine(
    (name) => name.split("/").every((segment) => segment !== "" && !segment.startsWith(".") && !/[\u0000-\u001f\u007f]/.test(segment)),
    "a file name is '/'-separated segments, none empty or starting with '.', without control characters",
  )
  // What every storage can hold, S3 and a folder alike: a backslash is a separator on Windows, and file
  // systems refuse names over 255 bytes.
  .refine((name) => !name.includes("\\"), "a file name must not contain '\\' (use '/' between folders)")
  .refine(
    (name) => name.split("/").every((segment) => Buffer.byteLength(segment) <= MAX_SEGMENT_BYTES),
    `each folder or file name is at most ${MAX_SEGMENT_BYTES} bytes (UTF-8)`,
  );

/** Where an input object belongs. */
export interface InputLocation {
  readonly jobId: string;
  /** The path inside the job, e.g. `plate-1/a01.tif`. */
  readonly fileName: string;
  /** The image id written in the results (Kaggle `id`, COCO `image_id`): the file's name without extension. */
  readonly imageId: string;
}

/**
 * The job and file an input key belongs to, or undefined when the key is not `input/<jobId>/<fileName>`.
 *
 * @example
 * ```ts
 * parseInputKey("input/job-1/plate 1/a01.tif"); // { jobId: "job-1", fileName: "plate 1/a01.tif", imageId: "a01" }
 * parseInputKey("input/a01.tif");               // undefined: no job folder
 * ```
 */
export function parseInputKey(key: string): InputLocation | undefined {
  if (!key.startsWith(KEY_PREFIXES.input)) return undefined;
  const rest = key.slice(KEY_PREFIXES.input.length);
  const slash = rest.indexOf("/");
  if (slash < 0) return undefined;
  const jobId = rest.slice(0, slash);
  const fileName = rest.slice(slash + 1);
  if (!jobIdSchema.safeParse(jobId).success || !jobFileNameSchema.safeParse(fileName).success) return undefined;
  const base = fileName.slice(fileName.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return { jobId, fileName, imageId: dot > 0 ? base.slice(0, dot) : base };
}

/**
 * The key an upload for `jobId` must have.
 *
 * @throws ZodError when the job id or file name is not allowed.
 * @example
 * ```ts
 * inputKey("job-1", "a01.tif"); // "input/job-1/a01.tif"
 * ```
 */
export function inputKey(jobId: string, fileName: string): string {
  return `${jobInputPrefix(jobIdSchema.parse(jobId))}${jobFileNameSchema.parse(fileName)}`;
}

/** Everything a job wrote: `output/<jobId>/`. */
export function jobOutputPrefix(jobId: string): string {
  return `${KEY_PREFIXES.output}${jobId}/`;
}

/** Every upload of a job: `input/<jobId>/`. */
export function jobInputPrefix(jobId: string): string {
  return `${KEY_PREFIXES.input}${jobId}/`;
}

/** Where the API keeps what it knows of a job: `jobs/<jobId>/job.json` and the job-wide results. */
export function jobKeys(jobId: string): { readonly manifest: string; merged(kind: MergeableResultKind, digest: string): string } {
  const prefix = `${KEY_PREFIXES.jobs}${jobIdSchema.parse(jobId)}/`;
  return { manifest: `${prefix}job.json`, merged: (kind, digest) => `${prefix}results/${kind}-${digest}.csv` };
}

/** The status document of an input object: `output/<jobId>/<fileName>/status.json`. */
export function statusKey(location: Pick<InputLocation, "jobId" | "fileName">): string {
  return `${jobOutputPrefix(location.jobId)}${location.fileName}/status.json`;
}

/** The output keys of one input object (and of one run of it). */
export interface OutputKeys {
  /** `output/<jobId>/<fileName>/` */
  readonly prefix: string;
  readonly status: string;
  /** `output/<jobId>/<fileName>/runs/<runId>/` */
  readonly runPrefix: string;
  readonly results: { readonly [K in ResultKind]: string };
  /** The key of claim number `generation` (0, 1, ...) on the run. */
  claim(generation: number): string;
  /** Prefix of the run's claims. */
  readonly claimsPrefix: string;
}

/**
 * @example
 * ```ts
 * const keys = outputKeys({ jobId: "job-1", fileName: "a01.tif" }, "3f2a...");
 * keys.status;            // "output/job-1/a01.tif/status.json"
 * keys.results.coco;      // "output/job-1/a01.tif/runs/3f2a.../coco.json"
 * ```
 */
export function outputKeys(location: Pick<InputLocation, "jobId" | "fileName">, runId: string): OutputKeys {
  const prefix = `${jobOutputPrefix(location.jobId)}${location.fileName}/`;
  const runPrefix = `${prefix}runs/${runId}/`;
  const results = Object.fromEntries(Object.entries(RESULT_FILES).map(([kind, file]) => [kind, runPrefix + file])) as OutputKeys["results"];
  const claimsPrefix = `${runPrefix}claims/`;
  return {
    prefix,
    status: statusKey(location),
    runPrefix,
    results,
    claimsPrefix,
    // Zero-padded, so that listing the prefix returns the claims in order.
    claim: (generation) => `${claimsPrefix}${String(generation).padStart(6, "0")}.json`,
  };
}

/** The uploaded object a job segments. */
export const sourceObjectSchema = z.object({
  bucket: z.string().min(1),
  key: z.string().min(1),
  /** Without quotes. */
  etag: z.string().min(1).optional(),
  versionId: z.string().min(1).optional(),
  size: z.number().int().nonnegative().optional(),
});
export type SourceObject = z.infer<typeof sourceObjectSchema>;

/**
 * The run id of an object version: a digest of where it is and which version it is (version id in a
 * versioned bucket, else ETag). The same upload always gets the same id, so a duplicate event finds the
 * run it already did; a new upload to the same key gets a new one.
 *
 * @example
 * ```ts
 * runIdOf({ bucket: "in", key: "input/job-1/a01.tif", etag: "9b2cf535f27731c974343645a3985328" }); // "5c0d..." (20 hex digits)
 * ```
 */
export function runIdOf(source: Pick<SourceObject, "bucket" | "key" | "etag" | "versionId">): string {
  const version = source.versionId !== undefined ? `version:${source.versionId}` : `etag:${source.etag ?? ""}`;
  return createHash("sha256").update(`${source.bucket}\n${source.key}\n${version}`).digest("hex").slice(0, 20);
}

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
export const INPUT_ERROR_CODES: readonly JobErrorCode[] = [JOB_ERROR_CODES.invalidImage, JOB_ERROR_CODES.imageTooLarge, JOB_ERROR_CODES.invalidInput];

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
      ...(Object.fromEntries(Object.keys(RESULT_FILES).map((kind) => [kind, z.string().min(1)])) as { [K in ResultKind]: z.ZodString }),
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
