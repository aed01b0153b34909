/**
 * `GET /v1/jobs/{jobId}/result`: which stored object answers a request for one format of one image, or
 * of the whole job (`kaggle` without a file: every image's cells in one submission CSV, built once per
 * set of runs and kept, so that asking again costs one read).
 */
import { createHash } from "node:crypto";
import pLimit from "p-limit";
import { SUBMISSION_CSV_HEADER } from "../../core/kaggle/csv";
import { RESULT_FORMATS, type ResultFormat, type ResultQuery } from "../../core/schemas/api";
import type { JobStatus } from "../../core/schemas/pipeline";
import { jobKeys, RESULT_CONTENT_TYPES } from "../../core/schemas/pipeline";
import type { JobsContext } from "./context";
import { JobRequestError, ResultNotAvailableError } from "./errors";
import { imageState, readImageRecord, readJobRecords, type ImageRecord } from "./job-view";

/** A result, as an object in the output bucket. */
export interface ResultObject {
  readonly key: string;
  readonly contentType: string;
  /** The name to save it as. */
  readonly fileName: string;
}

const SAVE_AS_SUFFIXES: Record<ResultFormat, string> = {
  json: ".instances.json",
  kaggle: ".csv",
  coco: ".coco.json",
  labels: ".labels.png",
  overlay: ".overlay.png",
};

/** Per-image submission files read at once while merging. */
const MERGE_READ_CONCURRENCY = 16;

/** How many file names an error lists before it stops. */
const LISTED_FILES = 20;

type Succeeded = Extract<JobStatus, { status: "succeeded" }>;

/**
 * @throws JobNotFoundError, JobRequestError (no such file, or a file must be named), ResultNotAvailableError.
 * @example
 * ```ts
 * const result = await jobResult("job-1", { format: "coco", file: "A01.tif" }, context);
 * const object = await context.output.get(result.key);
 * ```
 */
export async function jobResult(jobId: string, query: Pick<ResultQuery, "format" | "file">, context: JobsContext): Promise<ResultObject> {
  if (query.file !== undefined) {
    const record = await readImageRecord(jobId, query.file, context);
    if (record !== undefined) return imageResult(record, query.format);
    // Only now the whole job: to tell an unknown job from an unknown file, and to list the files there are.
    const { records } = await readJobRecords(jobId, context);
    throw new JobRequestError("unknown_file", `job ${jobId} has no file "${query.file}"`, { files: records.slice(0, LISTED_FILES).map((r) => r.fileName) });
  }
  const { records } = await readJobRecords(jobId, context);
  if (query.format === "kaggle") return mergedSubmission(jobId, records, context);
  if (records.length === 1) return imageResult(records[0]!, query.format);
  throw new JobRequestError("file_required", `job ${jobId} holds ${records.length} images: name one with ?file= (only kaggle merges them)`, {
    files: records.slice(0, LISTED_FILES).map((r) => r.fileName),
  });
}

function imageResult(record: ImageRecord, format: ResultFormat): ResultObject {
  const status = succeededStatus(record);
  return { key: status.results[RESULT_FORMATS[format]], contentType: RESULT_CONTENT_TYPES[RESULT_FORMATS[format]], fileName: status.imageId + SAVE_AS_SUFFIXES[format] };
}

function succeededStatus(record: ImageRecord): Succeeded {
  const state = imageState(record);
  const status = record.status;
  if (state === "succeeded" && status?.status === "succeeded") return status;
  if (state === "failed" && status?.status === "failed") {
    throw new ResultNotAvailableError("image_failed", `${record.fileName} failed: ${status.error.message}`, { fileName: record.fileName, error: status.error });
  }
  throw new ResultNotAvailableError("result_not_ready", `${record.fileName} is ${state.replace("_", " ")}; its results are not ready yet`, {
    fileName: record.fileName,
    state,
  });
}

/** Every succeeded image's rows under one header, once every image has finished. */
async function mergedSubmission(jobId: string, records: readonly ImageRecord[], context: JobsContext): Promise<ResultObject> {
  const pending = records.filter((record) => !["succeeded", "failed"].includes(imageState(record)));
  if (pending.length > 0) {
    throw new ResultNotAvailableError("result_not_ready", `${pending.length} of ${records.length} images have not finished; the job's CSV is made once all have`, {
      pending: pending.slice(0, LISTED_FILES).map((r) => ({ fileName: r.fileName, state: imageState(r) })),
    });
  }
  const succeeded = records.filter((record) => imageState(record) === "succeeded").map(succeededStatus);
  // Named after the runs it merges: a re-uploaded image makes a new one, an unchanged job finds its own.
  const digest = createHash("sha256")
    .update(succeeded.map((status) => `${status.fileName}\n${status.runId}`).join("\n"))
    .digest("hex")
    .slice(0, 20);
  const key = jobKeys(jobId).mergedSubmission(digest);
  const result = { key, contentType: RESULT_CONTENT_TYPES.submission, fileName: `${jobId}.csv` };
  if ((await context.output.head(key)) !== undefined) return result;

  const limit = pLimit(MERGE_READ_CONCURRENCY);
  const parts = await Promise.all(
    succeeded.map((status) =>
      limit(async () => {
        const object = await context.output.get(status.results.submission);
        if (object === undefined) throw new Error(`${status.results.submission} is missing although ${status.fileName} succeeded`);
        return withoutHeader(new TextDecoder().decode(object.body));
      }),
    ),
  );
  await context.output.put(key, SUBMISSION_CSV_HEADER + parts.join(""), { contentType: RESULT_CONTENT_TYPES.submission });
  return result;
}

function withoutHeader(csv: string): string {
  return csv.startsWith(SUBMISSION_CSV_HEADER) ? csv.slice(SUBMISSION_CSV_HEADER.length) : csv;
}
