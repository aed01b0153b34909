/**
 * `GET /v1/jobs/{jobId}/result`: which stored object answers a request for one format of one image, or
 * of the whole job (`kaggle`, `measurements` or `summary` without a file: every image's rows under one
 * header, built once per set of runs and kept, so that asking again costs one read).
 */
import { createHash } from "node:crypto";
import { SUBMISSION_CSV_HEADER } from "../../core/kaggle/csv";
import { MEASUREMENTS_CSV_HEADER, SUMMARY_CSV_HEADER } from "../../core/outputs/measurements-csv";
import {
  JOB_WIDE_FORMATS,
  RESULT_FORMATS,
  type JobWideFormat,
  type ResultFormat,
  type ResultQuery,
} from "../../core/schemas/api";
import type { JobStatus } from "../../core/schemas/job-documents";
import type { MergeableResultKind } from "../../core/schemas/object-keys";
import { jobKeys, RESULT_CONTENT_TYPES, RESULT_FILES } from "../../core/schemas/object-keys";
import type { Storage } from "../pipeline/storage/storage";
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
  preview: ".preview.png",
  measurements: ".measurements.csv",
  summary: ".summary.csv",
  geojson: ".geojson",
};

/** The header each per-image file of a job-wide format starts with, which the merge writes once. */
const CSV_HEADERS: Record<MergeableResultKind, string> = {
  submission: SUBMISSION_CSV_HEADER,
  measurements: MEASUREMENTS_CSV_HEADER,
  summary: SUMMARY_CSV_HEADER,
};

/**
 * Per-image files read ahead of the one being written while merging: enough to hide S3's latency, few
 * enough that memory holds a handful of images' rows, never the job's.
 */
const MERGE_READ_AHEAD = 16;

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
export async function jobResult(
  jobId: string,
  query: Pick<ResultQuery, "format" | "file">,
  context: JobsContext,
): Promise<ResultObject> {
  if (query.file !== undefined) {
    const record = await readImageRecord(jobId, query.file, context);
    if (record !== undefined) return imageResult(record, query.format);
    // Only now the whole job: to tell an unknown job from an unknown file, and to list the files there are.
    const { records } = await readJobRecords(jobId, context);
    throw new JobRequestError("unknown_file", `job ${jobId} has no file "${query.file}"`, {
      files: records.slice(0, LISTED_FILES).map((r) => r.fileName),
    });
  }
  const { records } = await readJobRecords(jobId, context);
  if (isJobWide(query.format)) return mergedResult(jobId, query.format, records, context);
  if (records.length === 1) return imageResult(records[0]!, query.format);
  throw new JobRequestError(
    "file_required",
    `job ${jobId} holds ${records.length} images: name one with ?file= (only ${JOB_WIDE_FORMATS.join(", ")} ` +
      "merge them)",
    {
      files: records.slice(0, LISTED_FILES).map((r) => r.fileName),
    },
  );
}

function isJobWide(format: ResultFormat): format is JobWideFormat {
  return (JOB_WIDE_FORMATS as readonly ResultFormat[]).includes(format);
}

function imageResult(record: ImageRecord, format: ResultFormat): ResultObject {
  const status = succeededStatus(record);
  const kind = RESULT_FORMATS[format];
  return {
    key: resultKey(status, kind),
    contentType: RESULT_CONTENT_TYPES[kind],
    fileName: status.imageId + SAVE_AS_SUFFIXES[format],
  };
}

/** The run's file of that kind; a run of an earlier version may lack the later kinds (measurements, preview). */
function resultKey(status: Succeeded, kind: keyof Succeeded["results"]): string {
  const key = status.results[kind];
  if (key === undefined) {
    throw new ResultNotAvailableError(
      "result_not_in_run",
      `${status.fileName} was segmented by a version that wrote no ${RESULT_FILES[kind]}; upload it again to have it`,
      {
        fileName: status.fileName,
      },
    );
  }
  return key;
}

function succeededStatus(record: ImageRecord): Succeeded {
  const state = imageState(record);
  const status = record.status;
  if (state === "succeeded" && status?.status === "succeeded") return status;
  if (state === "failed" && status?.status === "failed") {
    throw new ResultNotAvailableError("image_failed", `${record.fileName} failed: ${status.error.message}`, {
      fileName: record.fileName,
      error: status.error,
    });
  }
  throw new ResultNotAvailableError(
    "result_not_ready",
    `${record.fileName} is ${state.replace("_", " ")}; its results are not ready yet`,
    {
      fileName: record.fileName,
      state,
    },
  );
}

/**
 * Every succeeded image's rows of one CSV format under one header, once every image has finished. The
 * file is streamed to storage image by image, so a plate of 1,536 dense images is never held in memory.
 */
async function mergedResult(
  jobId: string,
  format: JobWideFormat,
  records: readonly ImageRecord[],
  context: JobsContext,
): Promise<ResultObject> {
  const pending = records.filter((record) => !["succeeded", "failed"].includes(imageState(record)));
  if (pending.length > 0) {
    throw new ResultNotAvailableError(
      "result_not_ready",
      `${pending.length} of ${records.length} images have not finished; the job's CSV is made once all have`,
      {
        pending: pending.slice(0, LISTED_FILES).map((r) => ({ fileName: r.fileName, state: imageState(r) })),
      },
    );
  }
  const kind = RESULT_FORMATS[format];
  const succeeded = records.filter((record) => imageState(record) === "succeeded").map(succeededStatus);
  const parts = succeeded.map((status) => resultKey(status, kind));
  // Named after the runs it merges: a re-uploaded image makes a new one, an unchanged job finds its own.
  const digest = createHash("sha256")
    .update(succeeded.map((status) => `${status.fileName}\n${status.runId}`).join("\n"))
    .digest("hex")
    .slice(0, 20);
  const key = jobKeys(jobId).merged(kind, digest);
  const result = {
    key,
    contentType: RESULT_CONTENT_TYPES[kind],
    fileName: `${jobId}${format === "kaggle" ? "" : `.${format}`}.csv`,
  };
  if ((await context.output.head(key)) !== undefined) return result;
  await context.output.putStream(key, concatenatedCsv(CSV_HEADERS[kind], parts, context.output), {
    contentType: RESULT_CONTENT_TYPES[kind],
  });
  return result;
}

/**
 * The header, then each file's rows without its header, in order; reads run ahead by {@link MERGE_READ_AHEAD} files.
 */
async function* concatenatedCsv(header: string, keys: readonly string[], storage: Storage): AsyncGenerator<Uint8Array> {
  const headerBytes = Buffer.from(header);
  yield headerBytes;
  const read = async (key: string) => {
    const object = await storage.get(key);
    if (object === undefined) throw new Error(`${key} is missing although its image succeeded`);
    return object.body;
  };
  const ahead: Promise<Uint8Array>[] = [];
  let next = 0;
  const readNext = () => {
    const body = read(keys[next++]!);
    // Awaited in turn below; until then a failure must not count as unhandled.
    body.catch(() => undefined);
    ahead.push(body);
  };
  while (next < keys.length && ahead.length < MERGE_READ_AHEAD) readNext();
  while (ahead.length > 0) {
    const body = await ahead.shift()!;
    if (next < keys.length) readNext();
    yield Buffer.from(body.buffer, body.byteOffset, body.byteLength).subarray(
      startsWith(body, headerBytes) ? headerBytes.length : 0,
    );
  }
}

function startsWith(body: Uint8Array, prefix: Uint8Array): boolean {
  return body.length >= prefix.length && prefix.every((byte, i) => body[i] === byte);
}
