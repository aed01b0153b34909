/**
 * One uploaded image, start to finish: the work of the segment function for one S3 object, written
 * against the {@link Storage} and {@link SegmentationEndpoint} interfaces only, so it runs the same on
 * AWS and locally.
 *
 * Idempotent: the run id comes from the object's version, a finished run is recognised by its status
 * document, and a claim keeps two deliveries from doing the same run at once (claims.ts).
 * Atomic for readers: a run writes its results under its own prefix and only then the status document
 * that names them (see core/schemas/object-keys.ts).
 */
import { CellsegInputError, ImageTooLargeError, InvalidImageError } from "../../core/errors";
import { SUBMISSION_CSV_HEADER } from "../../core/kaggle/csv";
import { renderImageResults } from "../../core/outputs/image-results";
import { MEASUREMENTS_CSV_HEADER, SUMMARY_CSV_HEADER } from "../../core/outputs/measurements-csv";
import { previewPng } from "../../core/outputs/preview-png";
import { jobManifestSchema } from "../../core/schemas/api";
import {
  JOB_ERROR_CODES,
  jobStatusSchema,
  type JobErrorCode,
  type JobStatus,
  type JobTimings,
} from "../../core/schemas/job-documents";
import {
  jobKeys,
  outputKeys,
  RESULT_CONTENT_TYPES,
  parseInputKey,
  runIdOf,
  type InputLocation,
  type OutputKeys,
  type SourceObject,
} from "../../core/schemas/object-keys";
import type { CellType } from "../../core/types";
import { errorFields } from "../../plumbing/error-fields";
import type { Logger } from "../../plumbing/logger";
import { claimRun, type Claim } from "./claims";
import { EndpointProtocolError, EndpointRejectedError, EndpointUnavailableError } from "./endpoint/errors";
import { PermanentJobError, UnexpectedBucketError } from "./errors";
import { getJson, putJson, type Storage } from "./storage/storage";
import { StoredDocumentError } from "./storage/errors";
import { segmentImage } from "./segment-image";
import type { PipelineDeps, PipelineSettings } from "./types";

/** An object that was created in the input bucket, as its event describes it. */
export interface ObjectCreated {
  readonly bucket: string;
  /** Decoded (events carry it URL-encoded). */
  readonly key: string;
  readonly etag?: string;
  readonly versionId?: string;
  readonly size?: number;
  /** Which delivery of the event this is, from 1. */
  readonly attempt: number;
}

/** Counts and timings of a finished job, for metrics. */
export interface JobReport {
  readonly tiles: number;
  readonly cells: number;
  readonly cellsPerType: Partial<Record<CellType, number>>;
  readonly retries: number;
  readonly timings: JobTimings;
}

/** What became of an object; only `failed` and `in-progress` should send the event back to the queue. */
export type JobOutcome =
  | { readonly kind: "ignored"; readonly reason: string }
  | { readonly kind: "superseded"; readonly reason: string }
  | { readonly kind: "duplicate"; readonly status: JobStatus }
  | { readonly kind: "in-progress"; readonly reason: string }
  | {
      readonly kind: "succeeded";
      readonly status: Extract<JobStatus, { status: "succeeded" }>;
      readonly report: JobReport;
    }
  | {
      readonly kind: "failed";
      readonly status: Extract<JobStatus, { status: "failed" }>;
      readonly error: unknown;
      /** True when this delivery did no work: the run had failed for good before. */
      readonly repeated: boolean;
      readonly retries: number;
    };

/**
 * Segments one uploaded object and writes its results and status document.
 *
 * @throws UnexpectedBucketError for an event from another bucket; storage failures where not even the
 *   status document can be written. Everything else is an outcome.
 * @example
 * ```ts
 * const outcome = await processObject({ bucket: "in", key: "input/job-1/a.png", etag, attempt: 1 }, deps, settings);
 * if (outcome.kind === "failed" || outcome.kind === "in-progress") throw new Error("retry later");
 * ```
 */
export async function processObject(
  event: ObjectCreated,
  deps: PipelineDeps,
  settings: PipelineSettings,
): Promise<JobOutcome> {
  const { input, output, logger } = deps;
  const now = deps.now ?? (() => new Date());
  if (event.bucket !== deps.inputBucket) throw new UnexpectedBucketError(event.bucket, deps.inputBucket);
  const location = parseInputKey(event.key);
  if (location === undefined) return { kind: "ignored", reason: `${event.key} is not input/<jobId>/<fileName>` };

  // Only the object's current version is worth segmenting: an event that arrives after a newer upload
  // (or after the object was deleted) is stale.
  const head = await input.head(event.key);
  if (head === undefined) return { kind: "superseded", reason: `${event.key} no longer exists` };
  if (isStale(event, head)) return { kind: "superseded", reason: `${event.key} has been replaced since the event` };
  const source: SourceObject = {
    bucket: event.bucket,
    key: event.key,
    etag: event.etag ?? head.etag,
    ...((event.versionId ?? head.versionId) ? { versionId: event.versionId ?? head.versionId } : {}),
    size: event.size ?? head.size,
  };
  const runId = runIdOf(source);
  const keys = outputKeys(location, runId);
  const fields = { jobId: location.jobId, fileName: location.fileName, runId, attempt: event.attempt };

  const done = await finishedRun(output, keys, runId, logger);
  if (done !== undefined) return done;

  const claimed = await claimRun(output, keys, {
    ttlMs: settings.claimTtlMs,
    now,
    ...(settings.soleWorker ? { soleWorker: settings.soleWorker } : {}),
  });
  if (!claimed.acquired) {
    return {
      kind: "in-progress",
      reason: `run ${runId} is claimed by ${claimed.heldBy} until ${claimed.expiresAt ?? "it finishes"}`,
    };
  }
  // The run may have finished between the first look and the claim.
  const finishedMeanwhile = await finishedRun(output, keys, runId, logger);
  if (finishedMeanwhile !== undefined) return finishedMeanwhile;

  const run = new Run({
    deps,
    settings,
    location,
    source,
    keys,
    runId,
    attempt: event.attempt,
    claim: claimed.claim,
    now,
  });
  logger.info("job started", { ...fields, key: event.key, size: source.size });
  return run.execute();
}

/** In an event without a version id, the ETag tells versions apart. */
function isStale(event: ObjectCreated, head: { etag: string; versionId?: string }): boolean {
  if (event.versionId !== undefined && head.versionId !== undefined) return event.versionId !== head.versionId;
  return event.etag !== undefined && event.etag !== head.etag;
}

/** The outcome of a run that needs no more work, if it is one. */
async function finishedRun(
  output: Storage,
  keys: OutputKeys,
  runId: string,
  logger: Logger,
): Promise<JobOutcome | undefined> {
  let status: JobStatus | undefined;
  try {
    status = await getJson(output, keys.status, jobStatusSchema);
  } catch (error) {
    // A damaged status document must not wedge the job: the run rewrites it.
    if (!(error instanceof StoredDocumentError)) throw error;
    logger.warn("ignoring an unreadable status document", { key: keys.status, reason: error.message });
    return undefined;
  }
  if (status === undefined || status.status === "queued" || status.runId !== runId) return undefined;
  if (status.status === "succeeded") return { kind: "duplicate", status };
  if (status.status === "failed" && !status.error.retryable) {
    return {
      kind: "failed",
      status,
      error: new PermanentJobError(status.error.code, status.error.message),
      repeated: true,
      retries: 0,
    };
  }
  return undefined;
}

/** What one claimed run works on. */
interface RunOptions {
  readonly deps: PipelineDeps;
  readonly settings: PipelineSettings;
  readonly location: InputLocation;
  /** The object version the run segments. */
  readonly source: SourceObject;
  readonly keys: OutputKeys;
  readonly runId: string;
  /** Which delivery of the event this is, from 1. */
  readonly attempt: number;
  /** The claim the run holds, released when it fails. */
  readonly claim: Claim;
  readonly now: () => Date;
}

/** One claimed run: does the work, writes the results and the status document. */
class Run {
  private readonly startedAt: Date;
  private retries = 0;

  constructor(private readonly options: RunOptions) {
    this.startedAt = options.now();
  }

  private get statusBase() {
    const { jobId, fileName, imageId } = this.options.location;
    return {
      schemaVersion: 1 as const,
      jobId,
      fileName,
      imageId,
      source: this.options.source,
      runId: this.options.runId,
      attempt: this.options.attempt,
      startedAt: this.startedAt.toISOString(),
      updatedAt: this.options.now().toISOString(),
    };
  }

  async execute(): Promise<JobOutcome> {
    const { deps, location, runId, attempt } = this.options;
    const { output, logger } = deps;
    const fields = { jobId: location.jobId, fileName: location.fileName, runId, attempt };
    try {
      const outcome = await this.segment();
      if (outcome.kind === "succeeded") {
        logger.info("job succeeded", {
          ...fields,
          cells: outcome.report.cells,
          tiles: outcome.report.tiles,
          retries: outcome.report.retries,
          timings: outcome.report.timings,
        });
      } else {
        logger.info("job skipped", {
          ...fields,
          outcome: outcome.kind,
          ...("reason" in outcome ? { reason: outcome.reason } : {}),
        });
      }
      return outcome;
    } catch (error) {
      const failure = classifyFailure(error);
      const status = jobStatusSchema.parse({
        ...this.statusBase,
        status: "failed",
        finishedAt: this.options.now().toISOString(),
        error: failure,
      }) as Extract<JobStatus, { status: "failed" }>;
      logger[failure.retryable ? "warn" : "error"]("job failed", {
        ...fields,
        error: failure,
        cause: errorFields(error),
      });
      // Best effort: the failure itself must reach the queue even if the bucket is what failed.
      await putJson(output, this.options.keys.status, status).catch((writeError: unknown) =>
        logger.error("cannot write the failed status document", { ...fields, error: errorFields(writeError) }),
      );
      await this.options.claim
        .release()
        .catch((releaseError: unknown) =>
          logger.warn("cannot release the claim", { ...fields, error: errorFields(releaseError) }),
        );
      return { kind: "failed", status, error, repeated: false, retries: this.retries };
    }
  }

  private async segment(): Promise<JobOutcome> {
    const { input, output, endpoint } = this.options.deps;
    const { settings, keys, location, source, attempt } = this.options;
    const started = performance.now();
    const lap = (() => {
      let last = started;
      return () => {
        const at = performance.now();
        const ms = at - last;
        last = at;
        return ms;
      };
    })();

    const object = await input.get(source.key, source.versionId ? { versionId: source.versionId } : {});
    if (object === undefined) return { kind: "superseded", reason: `${source.key} was deleted while the job started` };
    if (source.versionId === undefined && object.etag !== source.etag) {
      return { kind: "superseded", reason: `${source.key} was replaced while the job started` };
    }
    // Written only once the object is known to be the version the event is about, so that a stale
    // event never overwrites the status of a newer upload.
    await putJson(output, keys.status, jobStatusSchema.parse({ ...this.statusBase, status: "running" }));
    const readMs = lap();
    const segmented = await segmentImage(object.body, endpoint, location, {
      ...settings,
      onRetry: () => this.retries++,
    });
    lap();
    const { image, instances, document, cellsPerType } = segmented;
    const fileName = location.fileName.slice(location.fileName.lastIndexOf("/") + 1);
    const pixelSizeUm = (await jobPixelSizeUm(output, location.jobId, this.options.deps.logger)) ?? image.pixelSizeUm;
    const [rendered, preview] = await Promise.all([
      renderImageResults(location.imageId, fileName, image, instances, {
        overlayStyle: settings.overlayStyle,
        ...(pixelSizeUm !== undefined ? { pixelSizeUm } : {}),
      }),
      previewPng(image),
    ]);
    const renderMs = lap();

    // Results first, each under this run's prefix; the status document that names them last.
    await Promise.all([
      putJson(output, keys.results.instances, document),
      output.put(keys.results.submission, SUBMISSION_CSV_HEADER + rendered.submissionRows, {
        contentType: RESULT_CONTENT_TYPES.submission,
      }),
      putJson(output, keys.results.coco, rendered.coco),
      output.put(keys.results.labels, rendered.labelPng, { contentType: RESULT_CONTENT_TYPES.labels }),
      output.put(keys.results.overlay, rendered.overlayPng, { contentType: RESULT_CONTENT_TYPES.overlay }),
      output.put(keys.results.preview, preview, { contentType: RESULT_CONTENT_TYPES.preview }),
      output.put(keys.results.measurements, MEASUREMENTS_CSV_HEADER + rendered.measurementRows, {
        contentType: RESULT_CONTENT_TYPES.measurements,
      }),
      output.put(keys.results.summary, SUMMARY_CSV_HEADER + rendered.summaryRow, {
        contentType: RESULT_CONTENT_TYPES.summary,
      }),
      output.put(keys.results.outlines, JSON.stringify(rendered.outlines), {
        contentType: RESULT_CONTENT_TYPES.outlines,
      }),
    ]);
    // A newer upload may have landed while this one ran: its run owns the status document now.
    const current = await input.head(source.key);
    if (current === undefined || isStale({ ...source, attempt }, current)) {
      return {
        kind: "superseded",
        reason: `${source.key} was replaced while the job ran; its results stay under ${keys.runPrefix}`,
      };
    }
    const writeMs = lap();

    const timings: JobTimings = {
      readMs,
      ...segmented.timings,
      renderMs,
      writeMs,
      totalMs: performance.now() - started,
    };
    const status = jobStatusSchema.parse({
      ...this.statusBase,
      status: "succeeded",
      finishedAt: this.options.now().toISOString(),
      width: image.width,
      height: image.height,
      cellType: document.cellType,
      cells: instances.length,
      cellsPerType,
      tiles: segmented.tiles,
      modelVersion: document.modelVersion,
      manifestSha256: document.manifestSha256,
      profile: document.profile,
      timings,
      results: keys.results,
      ...(pixelSizeUm !== undefined ? { pixelSizeUm } : {}),
    }) as Extract<JobStatus, { status: "succeeded" }>;
    await putJson(output, keys.status, status);
    return {
      kind: "succeeded",
      status,
      report: { tiles: segmented.tiles, cells: instances.length, cellsPerType, retries: this.retries, timings },
    };
  }
}

/**
 * The pixel size the job was created with (`pixelSizeUm` of POST /v1/jobs, kept in its manifest), or
 * undefined for a job without one (created without it, or dropped into the bucket without the API). An
 * unreadable manifest is logged and read as none: it must not fail the image.
 */
async function jobPixelSizeUm(output: Storage, jobId: string, logger: Logger): Promise<number | undefined> {
  try {
    return (await getJson(output, jobKeys(jobId).manifest, jobManifestSchema))?.pixelSizeUm;
  } catch (error) {
    if (!(error instanceof StoredDocumentError)) throw error;
    logger.warn("ignoring an unreadable job manifest", { jobId, reason: error.message });
    return undefined;
  }
}

/** The error as the status document reports it. */
export function classifyFailure(error: unknown): { code: JobErrorCode; message: string; retryable: boolean } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof InvalidImageError) return { code: JOB_ERROR_CODES.invalidImage, message, retryable: false };
  if (error instanceof ImageTooLargeError) return { code: JOB_ERROR_CODES.imageTooLarge, message, retryable: false };
  if (error instanceof CellsegInputError) return { code: JOB_ERROR_CODES.invalidInput, message, retryable: false };
  if (error instanceof EndpointRejectedError) {
    // The endpoint's verdict on the image is as final as our own decoder's.
    if (error.code === "invalid_image") return { code: JOB_ERROR_CODES.invalidImage, message, retryable: false };
    if (error.code === "image_too_large") return { code: JOB_ERROR_CODES.imageTooLarge, message, retryable: false };
    return { code: JOB_ERROR_CODES.endpointRejected, message, retryable: false };
  }
  if (error instanceof EndpointUnavailableError)
    return { code: JOB_ERROR_CODES.endpointUnavailable, message, retryable: true };
  if (error instanceof EndpointProtocolError) return { code: JOB_ERROR_CODES.internal, message, retryable: false };
  // Anything else (a storage hiccup, a bug) may pass on another delivery; the queue's redrive limit bounds it.
  return { code: JOB_ERROR_CODES.internal, message: message || "unexpected failure", retryable: true };
}
