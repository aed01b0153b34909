/**
 * Failures of a job as the pipeline reports them to the segment function. Each that says whether trying
 * again later can help carries `retryable`: the handler lets a retryable failure go back to the queue, and
 * records a permanent one in the job's status document. The endpoint's own are endpoint/errors.ts's.
 */
import type { JobErrorCode } from "../../core/schemas/job-documents";

/** Another delivery of the same object version holds a live claim on the run: try again later. */
export class JobInProgressError extends Error {
  readonly retryable = true;

  constructor(message: string) {
    super(message);
    this.name = "JobInProgressError";
  }
}

/** Any failure that says whether retrying can help. */
export function isRetryable(error: unknown): boolean {
  return typeof error === "object" && error !== null && "retryable" in error && error.retryable === true;
}

/** Thrown for an event from a bucket this pipeline does not serve: a deployment mistake, not a job. */
export class UnexpectedBucketError extends Error {
  constructor(bucket: string, expected: string) {
    super(`the event is for bucket "${bucket}", but this pipeline reads "${expected}"`);
    this.name = "UnexpectedBucketError";
  }
}

/** A job that failed for good on an earlier delivery, reported again without redoing the work. */
export class PermanentJobError extends Error {
  constructor(
    readonly code: JobErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "PermanentJobError";
  }
}
