/**
 * Where the batch pipeline's objects live in the buckets: the key layout, the job and file names it
 * allows, and the run id that names one upload's results. The documents stored there are
 * job-documents.ts's.
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
import { createHash } from "node:crypto";
import { z } from "zod";

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
export const MEASUREMENT_RESULT_KINDS = [
  "measurements",
  "summary",
  "outlines",
] as const satisfies readonly ResultKind[];

/** Result files that runs of earlier versions may lack: the measurements' and the preview (added after them). */
export const LATER_RESULT_KINDS = [...MEASUREMENT_RESULT_KINDS, "preview"] as const satisfies readonly ResultKind[];

/** The CSV results whose files a job's images share one header of, so the API merges them for the whole job. */
export const MERGEABLE_RESULT_KINDS = [
  "submission",
  "measurements",
  "summary",
] as const satisfies readonly ResultKind[];
export type MergeableResultKind = (typeof MERGEABLE_RESULT_KINDS)[number];

/** The longest file or folder name file systems accept. */
const MAX_SEGMENT_BYTES = 255;

/** A job id: what the API generates (a UUID) or a folder name a user chose. */
export const jobIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    "a job id is 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
  );

/**
 * A file's path inside its job: `/`-separated segments, none empty or hidden (starting with `.`: that
 * also rules out `.` and `..`, and keeps `.DS_Store` and editors' swap files out of jobs), no control
 * characters.
 */
export const jobFileNameSchema = z
  .string()
  .max(512)
  .refine(
    (name) =>
      name
        .split("/")
        // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the check refuses
        .every((segment) => segment !== "" && !segment.startsWith(".") && !/[\u0000-\u001f\u007f]/.test(segment)),
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
export function jobKeys(jobId: string): {
  readonly manifest: string;
  merged(kind: MergeableResultKind, digest: string): string;
} {
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
  const results = Object.fromEntries(
    Object.entries(RESULT_FILES).map(([kind, file]) => [kind, runPrefix + file]),
  ) as OutputKeys["results"];
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
 * // "5c0d..." (20 hex digits)
 * runIdOf({ bucket: "in", key: "input/job-1/a01.tif", etag: "9b2cf535f27731c974343645a3985328" });
 * ```
 */
export function runIdOf(source: Pick<SourceObject, "bucket" | "key" | "etag" | "versionId">): string {
  const version = source.versionId !== undefined ? `version:${source.versionId}` : `etag:${source.etag ?? ""}`;
  return createHash("sha256").update(`${source.bucket}\n${source.key}\n${version}`).digest("hex").slice(0, 20);
}
