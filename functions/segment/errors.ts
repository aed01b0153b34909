/** The segment function's own failures, as it reports them to SQS. */

/** A job that failed on this delivery; the record goes back to the queue. */
export class JobFailedError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = "JobFailedError";
  }
}
