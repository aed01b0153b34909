/**
 * Failures of the model endpoint, as every implementation of it reports them. Each says whether trying
 * again later can help (`retryable`, read by isRetryable in ../errors.ts): the endpoint's own retries and
 * the handler go by it.
 */

/** The endpoint did not answer usefully: throttled, 5xx, timed out, unreachable. Worth retrying. */
export class EndpointUnavailableError extends Error {
  readonly retryable = true;
  /** How long the endpoint asked us to wait (Retry-After), if it said. */
  readonly retryAfterMs: number | undefined;
  /** The HTTP status (or SageMaker's original status), when there was one. */
  readonly status: number | undefined;
  /**
   * False when trying again at once would only repeat a long wait (an async endpoint still scaling from
   * zero after the whole deadline): the job fails as retryable and its message comes back later instead.
   */
  readonly retryNow: boolean;

  constructor(
    message: string,
    options: { cause?: unknown; retryAfterMs?: number; status?: number; retryNow?: boolean } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "EndpointUnavailableError";
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
    this.retryNow = options.retryNow ?? true;
  }
}

/**
 * The endpoint refused the request (4xx): the same request would be refused again. `code` is the
 * endpoint's error code (`invalid_image`, `image_too_large`, ...) when it gave one.
 */
export class EndpointRejectedError extends Error {
  readonly retryable = false;
  readonly status: number;
  readonly code: string | undefined;

  constructor(message: string, options: { status: number; code?: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "EndpointRejectedError";
    this.status = options.status;
    this.code = options.code;
  }
}

/** The endpoint answered 200 with something that is not an invocation response. A server bug: not retried. */
export class EndpointProtocolError extends Error {
  readonly retryable = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EndpointProtocolError";
  }
}

/**
 * Whether a job failed because an async endpoint did not answer within the deadline, most likely still
 * starting an instance after scaling to zero (the error may be wrapped as another's cause).
 */
export function isEndpointStillStarting(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    if (current instanceof EndpointUnavailableError && !current.retryNow) return true;
  }
  return false;
}
