/**
 * `GET /v1/jobs/{jobId}`: the state of every image of a job and of the job as a whole, assembled from
 * what the buckets hold: the job's manifest (jobs created through the API), its uploads (`input/<jobId>/`;
 * a folder dropped into the bucket is a job too) and each image's status document, which the pipeline
 * keeps up to date.
 */
import pLimit from "p-limit";
import {
  IMAGE_STATES,
  JOB_WIDE_FORMATS,
  jobManifestSchema,
  type JobManifest,
  RESULT_FORMATS,
  type ImageState,
  type JobImage,
  type JobView,
  type ResultFormat,
} from "../../core/schemas/api";
import {
  inputKey,
  jobFileNameSchema,
  jobInputPrefix,
  jobKeys,
  parseInputKey,
  statusKey,
} from "../../core/schemas/object-keys";
import { jobStatusSchema, type JobStatus, type JobTimings } from "../../core/schemas/job-documents";
import type { CellType } from "../../core/types";
import { getJson, type ObjectInfo } from "../pipeline/storage/storage";
import { StoredDocumentError } from "../pipeline/storage/errors";
import { jobCompute } from "./compute-cost";
import type { JobsContext } from "./context";
import { JobNotFoundError } from "./errors";

/** Status documents read at once; a 384-well plate takes 12 rounds. */
const STATUS_READ_CONCURRENCY = 32;

/** One image: its name, its upload (if any) and its status document (if any). */
export interface ImageRecord {
  readonly fileName: string;
  readonly upload?: ObjectInfo;
  readonly status?: JobStatus;
}

/**
 * @throws JobNotFoundError when nothing was created or uploaded under `jobId`.
 * @example
 * ```ts
 * const view = await readJob("3f0c…", context);
 * console.log(view.status, view.images.succeeded, "/", view.images.total, view.compute.estimatedCostUsd);
 * ```
 */
export async function readJob(jobId: string, context: JobsContext): Promise<JobView> {
  const { manifest, records } = await readJobRecords(jobId, context);
  return summarizeJob(jobId, manifest?.createdAt, records, context.settings.pricing);
}

/** What the buckets hold about a job. */
export interface JobRecords {
  /** Undefined for a job that was not created through the API (a folder uploaded straight to the bucket). */
  readonly manifest?: JobManifest;
  /** The job's images in the manifest's order, then any other uploads in key order. */
  readonly records: ImageRecord[];
}

/** @throws JobNotFoundError when the job has neither a manifest nor uploads. */
export async function readJobRecords(
  jobId: string,
  context: Pick<JobsContext, "input" | "output">,
): Promise<JobRecords> {
  const [manifest, uploads] = await Promise.all([
    getJson(context.output, jobKeys(jobId).manifest, jobManifestSchema),
    context.input.list(jobInputPrefix(jobId)),
  ]);
  const uploadsByName = new Map<string, ObjectInfo>();
  for (const upload of uploads) {
    const location = parseInputKey(upload.key);
    if (location?.jobId === jobId) uploadsByName.set(location.fileName, upload);
  }
  const listed = (manifest?.files ?? []).filter((name) => jobFileNameSchema.safeParse(name).success);
  const fileNames = [...new Set([...listed, ...uploadsByName.keys()])];
  if (manifest === undefined && fileNames.length === 0) throw new JobNotFoundError(jobId);

  const limit = pLimit(STATUS_READ_CONCURRENCY);
  const records = await Promise.all(
    fileNames.map((fileName) =>
      limit(async () => {
        const upload = uploadsByName.get(fileName);
        const status = await readStatus(context, jobId, fileName);
        return { fileName, ...(upload ? { upload } : {}), ...(status ? { status } : {}) };
      }),
    ),
  );
  return { ...(manifest ? { manifest } : {}), records };
}

/**
 * One image of a job, read on its own (its manifest entry or upload, and its status document): what a
 * request for one image's result needs, without reading the rest of a plate.
 *
 * @returns undefined when the job expects no such file and none was uploaded.
 */
export async function readImageRecord(
  jobId: string,
  fileName: string,
  context: Pick<JobsContext, "input" | "output">,
): Promise<ImageRecord | undefined> {
  const [manifest, upload, status] = await Promise.all([
    getJson(context.output, jobKeys(jobId).manifest, jobManifestSchema),
    context.input.head(inputKey(jobId, fileName)),
    readStatus(context, jobId, fileName),
  ]);
  if (upload === undefined && !manifest?.files.includes(fileName)) return undefined;
  return { fileName, ...(upload ? { upload } : {}), ...(status ? { status } : {}) };
}

async function readStatus(
  context: Pick<JobsContext, "output">,
  jobId: string,
  fileName: string,
): Promise<JobStatus | undefined> {
  try {
    return await getJson(context.output, statusKey({ jobId, fileName }), jobStatusSchema);
  } catch (error) {
    // A damaged document is the pipeline's to rewrite; until then the image counts as not started.
    if (error instanceof StoredDocumentError) return undefined;
    throw error;
  }
}

/**
 * An image's state. A status document about an older version of the upload is out of date: the new
 * upload is `queued` until the pipeline takes it.
 */
export function imageState(record: ImageRecord): ImageState {
  const { upload, status } = record;
  if (status !== undefined && (upload === undefined || describesUpload(status, upload))) return status.status;
  return upload === undefined ? "awaiting_upload" : "queued";
}

function describesUpload(status: JobStatus, upload: ObjectInfo): boolean {
  const { source } = status;
  if (source.versionId !== undefined && upload.versionId !== undefined) return source.versionId === upload.versionId;
  return source.etag === undefined || source.etag === upload.etag;
}

/** The links to each result format of one image. */
export function resultLinks(jobId: string, fileName: string): Record<ResultFormat, string> {
  const file = encodeURIComponent(fileName);
  return Object.fromEntries(
    (Object.keys(RESULT_FORMATS) as ResultFormat[]).map((format) => [
      format,
      `/v1/jobs/${jobId}/result?format=${format}&file=${file}`,
    ]),
  ) as Record<ResultFormat, string>;
}

/**
 * The job's view from its image records: pure, so that every combination of states is easy to test.
 *
 * @example
 * ```ts
 * const view = summarizeJob("job-1", undefined, records, { endpointUsdPerHour: 1.408, functionUsdPerSecond: 0.00005 });
 * ```
 */
export function summarizeJob(
  jobId: string,
  createdAt: string | undefined,
  records: readonly ImageRecord[],
  pricing: JobsContext["settings"]["pricing"],
): JobView {
  const counts = Object.fromEntries(IMAGE_STATES.map((state) => [state, 0])) as Record<ImageState, number>;
  const cellsPerType: Partial<Record<CellType, number>> = {};
  const timings: JobTimings[] = [];
  const failedFiles: string[] = [];
  let cells = 0;
  const files = records.map((record): JobImage => {
    const state = imageState(record);
    counts[state]++;
    const imageId = parseInputKey(inputKey(jobId, record.fileName))!.imageId;
    const base = { fileName: record.fileName, imageId, state };
    const status = state === "awaiting_upload" || state === "queued" ? undefined : record.status;
    if (status === undefined || status.status === "queued") return base;
    if (status.status === "running") return { ...base, updatedAt: status.updatedAt };
    if (status.status === "failed") {
      failedFiles.push(record.fileName);
      return { ...base, updatedAt: status.updatedAt, error: status.error };
    }
    cells += status.cells;
    for (const [type, count] of Object.entries(status.cellsPerType) as [CellType, number][])
      cellsPerType[type] = (cellsPerType[type] ?? 0) + count;
    timings.push(status.timings);
    return {
      ...base,
      updatedAt: status.updatedAt,
      width: status.width,
      height: status.height,
      cellType: status.cellType,
      cells: status.cells,
      cellsPerType: status.cellsPerType,
      tiles: status.tiles,
      profile: status.profile,
      timings: status.timings,
      results: resultLinks(jobId, record.fileName),
    };
  });
  const total = records.length;
  const finished = counts.succeeded + counts.failed;
  const status: JobView["status"] =
    finished === total && total > 0
      ? counts.failed === 0
        ? "succeeded"
        : "failed"
      : counts.running + finished > 0
        ? "running"
        : "queued";
  return {
    jobId,
    status,
    ...(createdAt ? { createdAt } : {}),
    images: { ...counts, total },
    cells,
    cellsPerType,
    compute: jobCompute(timings, pricing),
    ...(failedFiles.length > 0
      ? {
          error: {
            message: `${failedFiles.length} of ${total} images failed; each image's error says why`,
            failedFiles,
          },
        }
      : {}),
    results: Object.fromEntries(
      JOB_WIDE_FORMATS.map((format) => [format, `/v1/jobs/${jobId}/result?format=${format}`]),
    ) as JobView["results"],
    files,
  };
}
