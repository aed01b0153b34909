/**
 * Builders for the job status documents (`output/<jobId>/<fileName>/status.json`) and the objects around
 * them, shared by the jobs and API tests. Every document is parsed with `jobStatusSchema` on the way out,
 * so a test can never hand the code under test a document the pipeline could not have written.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { SUBMISSION_CSV_HEADER } from "../../../../core/kaggle/csv";
import { MEASUREMENTS_CSV_HEADER, SUMMARY_CSV_HEADER } from "../../../../core/outputs/measurements-csv";
import type { CellType } from "../../../../core/types";
import {
  inputKey,
  LATER_RESULT_KINDS,
  outputKeys,
  parseInputKey,
  runIdOf,
  statusKey,
} from "../../../../core/schemas/object-keys";
import {
  jobStatusSchema,
  type JobErrorCode,
  type JobStatus,
  type JobTimings,
} from "../../../../core/schemas/job-documents";
import type { ComputePricing } from "../../../../functions/jobs/compute-cost";
import type { JobsContext, JobsSettings } from "../../../../functions/jobs/context";
import type { ObjectLinks } from "../../../../functions/jobs/object-links";
import { LocalStorage } from "../../../../functions/pipeline/storage/local-storage";
import type { ObjectInfo, Storage } from "../../../../functions/pipeline/storage/storage";

/** The bucket name the sources of the documents claim. */
export const BUCKET = "cellseg-test";

const CREATED = "2025-01-02T03:04:05.000Z";
const STARTED = "2025-01-02T03:05:00.000Z";
const FINISHED = "2025-01-02T03:06:00.000Z";

type Succeeded = Extract<JobStatus, { status: "succeeded" }>;
type Failed = Extract<JobStatus, { status: "failed" }>;

/** Which upload a document describes: its job, file and (optionally) the object's etag / version. */
export interface StatusTarget {
  readonly jobId: string;
  readonly fileName: string;
  /** The upload's etag the document was written for; omitted: the document names no etag. */
  readonly etag?: string;
  readonly versionId?: string;
}

/** An MD5 hex digest, as LocalStorage (and S3 for single-part uploads) reports etags. */
export function md5(body: Uint8Array | string): string {
  return createHash("md5").update(body).digest("hex");
}

/** The upload an ObjectInfo would describe for `body` at `input/<jobId>/<fileName>`. */
export function uploadInfo(
  jobId: string,
  fileName: string,
  body: Uint8Array | string = `image ${fileName}`,
  versionId?: string,
): ObjectInfo {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  return { key: inputKey(jobId, fileName), etag: md5(bytes), size: bytes.length, ...(versionId ? { versionId } : {}) };
}

export function timings(overrides: Partial<JobTimings> = {}): JobTimings {
  return {
    readMs: 10,
    decodeMs: 20,
    segmentMs: 300,
    inferenceMs: 250,
    stitchMs: 5,
    renderMs: 40,
    writeMs: 15,
    totalMs: 400,
    ...overrides,
  };
}

function base(target: StatusTarget) {
  const key = inputKey(target.jobId, target.fileName);
  return {
    schemaVersion: 1 as const,
    jobId: target.jobId,
    fileName: target.fileName,
    imageId: parseInputKey(key)!.imageId,
    source: {
      bucket: BUCKET,
      key,
      ...(target.etag !== undefined ? { etag: target.etag } : {}),
      ...(target.versionId !== undefined ? { versionId: target.versionId } : {}),
    },
    updatedAt: FINISHED,
  };
}

/** The run id the pipeline derives for the target's upload. */
export function runIdFor(target: StatusTarget): string {
  return runIdOf({
    bucket: BUCKET,
    key: inputKey(target.jobId, target.fileName),
    etag: target.etag,
    versionId: target.versionId,
  });
}

function run(target: StatusTarget, runId?: string) {
  return { ...base(target), runId: runId ?? runIdFor(target), attempt: 1, startedAt: STARTED };
}

export function queuedStatus(target: StatusTarget): JobStatus {
  return jobStatusSchema.parse({ ...base(target), status: "queued", createdAt: CREATED });
}

export function runningStatus(target: StatusTarget): JobStatus {
  return jobStatusSchema.parse({ ...run(target), status: "running", updatedAt: STARTED });
}

export interface SucceededOptions {
  readonly runId?: string;
  readonly cellsPerType?: Partial<Record<CellType, number>>;
  readonly timings?: Partial<JobTimings>;
  readonly width?: number;
  readonly height?: number;
  /** A run of a version that wrote no measurements, summary, outlines or preview. */
  readonly beforeMeasurements?: boolean;
}

export function succeededStatus(target: StatusTarget, options: SucceededOptions = {}): Succeeded {
  const runId = options.runId ?? runIdFor(target);
  const cellsPerType = options.cellsPerType ?? { astro: 2 };
  const cells = Object.values(cellsPerType).reduce((sum, n) => sum + n, 0);
  const dominant = (Object.entries(cellsPerType) as [CellType, number][]).sort((a, b) => b[1] - a[1])[0];
  return jobStatusSchema.parse({
    ...run(target, runId),
    status: "succeeded",
    finishedAt: FINISHED,
    width: options.width ?? 704,
    height: options.height ?? 520,
    cellType: cells > 0 && dominant ? dominant[0] : null,
    cells,
    cellsPerType,
    tiles: 1,
    modelVersion: "test-model-1",
    manifestSha256: "a".repeat(64),
    profile: "fast",
    timings: timings(options.timings),
    results: options.beforeMeasurements
      ? Object.fromEntries(
          Object.entries(outputKeys(target, runId).results).filter(
            ([kind]) => !(LATER_RESULT_KINDS as readonly string[]).includes(kind),
          ),
        )
      : outputKeys(target, runId).results,
  }) as Succeeded;
}

export function failedStatus(
  target: StatusTarget,
  error: { code?: JobErrorCode; message?: string; retryable?: boolean } = {},
): Failed {
  return jobStatusSchema.parse({
    ...run(target),
    status: "failed",
    finishedAt: FINISHED,
    error: {
      code: error.code ?? "invalid_image",
      message: error.message ?? "the bytes are not an image",
      retryable: error.retryable ?? false,
    },
  }) as Failed;
}

/** Stores `body` as the upload `input/<jobId>/<fileName>` and returns what the document must name. */
export async function storeUpload(
  storage: Storage,
  jobId: string,
  fileName: string,
  body: Uint8Array | string = `image ${fileName}`,
): Promise<StatusTarget> {
  await storage.put(inputKey(jobId, fileName), body);
  return { jobId, fileName, etag: md5(typeof body === "string" ? Buffer.from(body) : body) };
}

export async function storeStatus(storage: Storage, status: JobStatus): Promise<void> {
  await storage.put(statusKey(status), JSON.stringify(status), { contentType: "application/json" });
}

/** The CSV rows one image's `submission.csv` holds in these tests: one row per cell, RLE made up. */
/** Stand-ins for `measurements.csv` rows: what the merge must keep is which image and cell each row is. */
export function measurementRowsOf(imageId: string, cells = 2): string {
  return Array.from({ length: cells }, (_, i) => `${imageId},${i + 1}\n`).join("");
}

export function submissionRows(imageId: string, cells = 2): string {
  return Array.from({ length: cells }, (_, i) => `${imageId},${i * 10 + 1} ${i + 3}\n`).join("");
}

/**
 * An image whose run succeeded, as the pipeline leaves it: the upload, every result file of the run, and
 * the status document naming them (written last).
 */
export async function storeSucceededImage(
  storage: Storage,
  jobId: string,
  fileName: string,
  options: SucceededOptions & { body?: string } = {},
): Promise<Succeeded> {
  const target = await storeUpload(storage, jobId, fileName, options.body);
  const status = succeededStatus(target, options);
  const cells = status.cells;
  await storage.put(status.results.instances, JSON.stringify({ imageId: status.imageId, cells }));
  await storage.put(status.results.submission, SUBMISSION_CSV_HEADER + submissionRows(status.imageId, cells));
  await storage.put(status.results.coco, JSON.stringify({ images: [{ file_name: fileName }] }));
  await storage.put(status.results.labels, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1]));
  await storage.put(status.results.overlay, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 2]));
  if (status.results.measurements !== undefined) {
    await storage.put(status.results.measurements, MEASUREMENTS_CSV_HEADER + measurementRowsOf(status.imageId, cells));
    await storage.put(status.results.summary!, `${SUMMARY_CSV_HEADER}${status.imageId},${fileName},${cells}\n`);
    await storage.put(status.results.outlines!, JSON.stringify({ type: "FeatureCollection", features: [] }));
  }
  await storeStatus(storage, status);
  return status;
}

export async function storeFailedImage(storage: Storage, jobId: string, fileName: string): Promise<Failed> {
  const target = await storeUpload(storage, jobId, fileName);
  const status = failedStatus(target);
  await storeStatus(storage, status);
  return status;
}

export const PRICING: ComputePricing = { endpointUsdPerHour: 3.6, functionUsdPerSecond: 0.001 };

export const SETTINGS: JobsSettings = {
  maxFilesPerJob: 5,
  uploadUrlTtlSeconds: 600,
  resultUrlTtlSeconds: 120,
  pricing: PRICING,
};

/** Links that hand out fixed URLs and remember what they were asked for: S3ObjectLinks' contract, minus S3. */
export class FixedObjectLinks implements ObjectLinks {
  readonly downloads: { key: string; options: unknown }[] = [];

  constructor(private readonly downloadUrl: string | undefined = undefined) {}

  async upload(key: string, expiresInSeconds: number) {
    return { url: `https://uploads.example.com/${key}?expires=${expiresInSeconds}`, headers: { "x-test": "1" } };
  }

  async download(key: string, options: unknown): Promise<string | undefined> {
    this.downloads.push({ key, options });
    return this.downloadUrl;
  }
}

/** A temporary directory playing the (single) bucket, removed by `dispose`. */
export interface TempBucket {
  readonly root: string;
  readonly storage: LocalStorage;
  dispose(): Promise<void>;
}

export async function tempBucket(): Promise<TempBucket> {
  const root = await mkdtemp(path.join(tmpdir(), "cellseg-jobs-test-"));
  return { root, storage: new LocalStorage(root), dispose: () => rm(root, { recursive: true, force: true }) };
}

/** A jobs context on one LocalStorage (input and output in one bucket, as the local stack has them). */
export function jobsContext(storage: Storage, overrides: Partial<JobsContext> = {}): JobsContext {
  return { input: storage, output: storage, links: new FixedObjectLinks(), settings: SETTINGS, ...overrides };
}
