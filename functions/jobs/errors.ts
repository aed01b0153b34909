/**
 * What can go wrong with a job request, as the jobs domain reports it; the API maps each to an HTTP status
 * (functions/api/errors.ts) and passes `code` and `message` to the client unchanged.
 */

/** A request the client can fix; `details` says what exactly. */
export class JobRequestError extends Error {
  constructor(
    readonly code: "too_many_files" | "file_required" | "unknown_file",
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "JobRequestError";
  }
}

/** No job has this id: nothing was created or uploaded under it. */
export class JobNotFoundError extends Error {
  readonly code = "job_not_found";
  constructor(readonly jobId: string) {
    super(`there is no job ${jobId}`);
    this.name = "JobNotFoundError";
  }
}

/** The result asked for does not exist yet (or never will: the image failed). */
export class ResultNotAvailableError extends Error {
  constructor(
    /** `result_not_in_run`: the image was segmented by a version that did not write this format. */
    readonly code: "result_not_ready" | "image_failed" | "result_not_in_run",
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ResultNotAvailableError";
  }
}

/** An upload token that was not made by this process, was altered, or has expired. */
export class UploadTokenError extends Error {
  readonly code = "invalid_upload_token";
  constructor(message: string) {
    super(message);
    this.name = "UploadTokenError";
  }
}
