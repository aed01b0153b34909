import { z } from "zod";
import { hasImageExtension, IMAGE_EXTENSIONS } from "../image/extensions";
import { CELL_TYPES } from "../types";
import { PROFILES } from "./manifest";
import { JOB_ERROR_CODES, JOB_STATUSES, jobTimingsSchema, type JobErrorCode } from "./job-documents";
import { jobFileNameSchema, jobIdSchema, type ResultKind } from "./object-keys";

/**
 * The HTTPS API's boundary (`/v1/...`, functions/api): request bodies, responses and the error body. The
 * API validates with these schemas and serves them as its OpenAPI document; clients (and the tests)
 * parse answers with the same ones.
 *
 * Also the job manifest the API stores for each job it creates (`jobs/<jobId>/job.json` in the output
 * bucket): the list of files the job expects, so that its status can say which are still to be uploaded.
 */

/** The most files one job may hold, whatever the deployment allows (a 1536-well plate fits). */
export const MAX_FILES_PER_JOB_LIMIT = 10_000;

/**
 * Micrometres per pixel of a job's images: the measurements gain their micrometre columns. Up to 1 mm,
 * which no microscope image comes near; more is a unit mistake (nanometres given as micrometres).
 */
const pixelSizeUmSchema = z.number().positive().max(1000);

const imageFileName = jobFileNameSchema.refine(
  hasImageExtension,
  `a file name must end in one of ${IMAGE_EXTENSIONS.join(", ")}`,
);

/**
 * `POST /v1/jobs`: the images the job will hold, by the names they will be uploaded as (`/` makes folders).
 * `filename` is the one-image shorthand; `pixelSizeUm` (micrometres per pixel) applies to every image of the job,
 * over what a TIFF's resolution tags say.
 *
 * @example
 * ```ts
 * createJobRequestSchema.parse({ files: ["plate-1/A01.tif", "plate-1/A02.tif"] });
 * createJobRequestSchema.parse({ filename: "cells.png" });
 * createJobRequestSchema.parse({ files: ["A01.tif"], pixelSizeUm: 0.65 }); // measurements in micrometres too
 * ```
 */
export const createJobRequestSchema = z
  .strictObject({
    filename: imageFileName.optional(),
    files: z.array(imageFileName).min(1).max(MAX_FILES_PER_JOB_LIMIT).optional(),
    pixelSizeUm: pixelSizeUmSchema.optional(),
  })
  .refine(
    (body) => (body.filename === undefined) !== (body.files === undefined),
    "give either `filename` (one image) or `files` (a list), not both",
  )
  .refine(
    (body) => body.files === undefined || new Set(body.files).size === body.files.length,
    "file names in `files` must be unique",
  )
  .refine(
    (body) =>
      body.files === undefined || !body.files.some((name) => body.files!.some((other) => other.startsWith(`${name}/`))),
    "a file name in `files` must not also be a folder of another (`a.png` and `a.png/b.png`)",
  );
export type CreateJobRequest = z.infer<typeof createJobRequestSchema>;

/** How to upload one image: an HTTP PUT of the raw bytes to `url`, with `headers`, before `expiresAt`. */
export const uploadTargetSchema = z.object({
  fileName: jobFileNameSchema,
  url: z.url(),
  method: z.literal("PUT"),
  headers: z.record(z.string(), z.string()),
});
export type UploadTarget = z.infer<typeof uploadTargetSchema>;

/** The answer to `POST /v1/jobs`; `uploadUrl` is there when the job was asked for with `filename`. */
export const createJobResponseSchema = z.object({
  jobId: jobIdSchema,
  statusUrl: z.string(),
  expiresAt: z.iso.datetime(),
  uploads: z.array(uploadTargetSchema),
  uploadUrl: z.url().optional(),
});
export type CreateJobResponse = z.infer<typeof createJobResponseSchema>;

/**
 * What the API stores when it creates a job. Its names passed createJobRequestSchema when it was written;
 * one written by an older version may hold names refused today, which readers skip (jobFileNameSchema)
 * rather than fail the whole job on.
 */
export const jobManifestSchema = z.object({
  schemaVersion: z.literal(1),
  jobId: jobIdSchema,
  createdAt: z.iso.datetime(),
  files: z.array(z.string()),
  pixelSizeUm: pixelSizeUmSchema.optional(),
});
export type JobManifest = z.infer<typeof jobManifestSchema>;

/** An image's state: `awaiting_upload` until its bytes arrive, then the pipeline's states. */
export const IMAGE_STATES = ["awaiting_upload", ...JOB_STATUSES] as const;
export type ImageState = (typeof IMAGE_STATES)[number];

/** The formats of `GET /v1/jobs/{jobId}/result?format=`, and the result file each one is. */
export const RESULT_FORMATS = {
  json: "instances",
  kaggle: "submission",
  coco: "coco",
  labels: "labels",
  overlay: "overlay",
  preview: "preview",
  measurements: "measurements",
  summary: "summary",
  geojson: "outlines",
} as const satisfies Record<string, ResultKind>;
export type ResultFormat = keyof typeof RESULT_FORMATS;

/** The formats a whole job also has, without `file`: every image's CSV under one header. */
export const JOB_WIDE_FORMATS = ["kaggle", "measurements", "summary"] as const satisfies readonly ResultFormat[];
export type JobWideFormat = (typeof JOB_WIDE_FORMATS)[number];
const resultFormatSchema = z.enum(Object.keys(RESULT_FORMATS) as [ResultFormat, ...ResultFormat[]]);

const cellCountsSchema = z.partialRecord(z.enum(CELL_TYPES), z.number().int().nonnegative());
const errorCodeSchema = z.enum(Object.values(JOB_ERROR_CODES) as [JobErrorCode, ...JobErrorCode[]]);

/** One image of a job, as `GET /v1/jobs/{jobId}` reports it. */
export const jobImageSchema = z.object({
  fileName: jobFileNameSchema,
  imageId: z.string(),
  state: z.enum(IMAGE_STATES),
  updatedAt: z.iso.datetime().optional(),
  width: z.number().int().positive().optional(),
  height: z.number().int().positive().optional(),
  cellType: z.enum(CELL_TYPES).nullable().optional(),
  cells: z.number().int().nonnegative().optional(),
  cellsPerType: cellCountsSchema.optional(),
  tiles: z.number().int().positive().optional(),
  profile: z.enum(PROFILES).optional(),
  timings: jobTimingsSchema.optional(),
  error: z.object({ code: errorCodeSchema, message: z.string(), retryable: z.boolean() }).optional(),
  /** Links to each result format, once the image has succeeded. */
  results: z.partialRecord(resultFormatSchema, z.string()).optional(),
});
export type JobImage = z.infer<typeof jobImageSchema>;

/** Compute the job's images used, and what it cost at the deployment's prices. */
export const jobComputeSchema = z.object({
  /** Wall time of the segment function on the job's images. */
  functionSeconds: z.number().min(0),
  /** Time the model endpoint spent inferring the job's tiles. */
  endpointSeconds: z.number().min(0),
  estimatedCostUsd: z.number().min(0),
  pricing: z.object({ endpointUsdPerHour: z.number().min(0), functionUsdPerSecond: z.number().min(0) }),
  /** How the estimate is made, in words. */
  basis: z.string(),
});
export type JobCompute = z.infer<typeof jobComputeSchema>;

/**
 * `GET /v1/jobs/{jobId}`. The job is `queued` until an image starts, `running` while any image is queued
 * or running, and, once every image has finished, `succeeded` when all succeeded, else `failed` (with
 * `error` saying how many and which).
 */
export const jobViewSchema = z.object({
  jobId: jobIdSchema,
  status: z.enum(JOB_STATUSES),
  createdAt: z.iso.datetime().optional(),
  images: z
    .object(
      Object.fromEntries(IMAGE_STATES.map((state) => [state, z.number().int().nonnegative()])) as Record<
        ImageState,
        z.ZodNumber
      >,
    )
    .extend({
      total: z.number().int().nonnegative(),
    }),
  cells: z.number().int().nonnegative(),
  cellsPerType: cellCountsSchema,
  compute: jobComputeSchema,
  error: z.object({ message: z.string(), failedFiles: z.array(jobFileNameSchema) }).optional(),
  /**
   * Job-wide results: every succeeded image's cells in one Kaggle CSV, in one measurements.csv, and one
   * summary.csv row per image.
   */
  results: z.object({ kaggle: z.string(), measurements: z.string(), summary: z.string() }),
  files: z.array(jobImageSchema),
});
export type JobView = z.infer<typeof jobViewSchema>;

/** The query of `GET /v1/jobs/{jobId}/result`. `file` picks the image; a one-image job needs none. */
export const resultQuerySchema = z.strictObject({
  format: resultFormatSchema.default("json"),
  file: jobFileNameSchema.optional(),
  /**
   * `link`: answer where to fetch the result (resultLinkSchema) instead of the result or a redirect to it,
   * for browsers, which cannot read where a cross-origin redirect leads. @default "file"
   */
  as: z.enum(["file", "link"]).default("file"),
});
export type ResultQuery = z.infer<typeof resultQuerySchema>;

/**
 * `GET /v1/jobs/{jobId}/result?as=link`: a time-limited link to the result (AWS: a presigned S3 URL, which
 * needs no credentials), or the API's own address of the bytes where storage offers no links (locally),
 * relative to the API's base URL and fetched with the API's credentials.
 */
export const resultLinkSchema = z.object({
  url: z.string(),
  /** Whether `url` is the API's own (send the API's credentials) or a presigned link (send none). */
  signed: z.boolean(),
  fileName: z.string(),
  contentType: z.string(),
});
export type ResultLink = z.infer<typeof resultLinkSchema>;

/**
 * The request headers a browser (the web console) sends the API: SigV4's, the body's type, our request id.
 * Both the API's own CORS and API Gateway's preflight answers allow exactly these.
 */
export const BROWSER_REQUEST_HEADERS = [
  "Authorization",
  "Content-Type",
  "X-Amz-Date",
  "X-Amz-Security-Token",
  "X-Amz-Content-Sha256",
  "X-Request-Id",
] as const;

/** What `POST /v1/segment` answers: the cells, their Kaggle rows, or their measurements and outlines. */
export const SEGMENT_FORMATS = [
  "json",
  "kaggle",
  "measurements",
  "summary",
  "geojson",
] as const satisfies readonly ResultFormat[];
export type SegmentFormat = (typeof SEGMENT_FORMATS)[number];

/** The query of `POST /v1/segment`. */
export const segmentQuerySchema = z.strictObject({
  profile: z.enum(PROFILES).optional(),
  /** The image id the results carry (Kaggle `id`). @default "image" */
  id: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, "id is 1-128 letters, digits, '.', '_' or '-'")
    .optional(),
  format: z.enum(SEGMENT_FORMATS).default("json"),
  /** Micrometres per pixel, for the measurements' micrometre columns; else the TIFF's tags, else none. */
  pixelSizeUm: z.coerce.number().pipe(pixelSizeUmSchema).optional(),
});
export type SegmentQuery = z.infer<typeof segmentQuerySchema>;

/** Every error the API answers: a stable machine-readable code, a sentence for people, and details. */
export const apiErrorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
export type ApiErrorBody = z.infer<typeof apiErrorSchema>;
