/**
 * The one place where the server turns errors into HTTP answers. Handlers throw; `app.onError` calls
 * {@link toHttpError}. Input the caller can fix is a 4xx naming the problem; overload is a 503 with
 * Retry-After; anything unexpected is a 500 whose body says nothing internal (the log has the stack).
 */
import { HTTPException } from "hono/http-exception";
import { CellsegInputError, ImageTooLargeError, InvalidImageError, ModelUnavailableError } from "../../../core/errors";
import { ENDPOINT_ERROR_CODES, type EndpointErrorCode, type ErrorBody } from "../../../core/schemas/endpoint";
import { ENDPOINT_ERROR_STATUS } from "./error-status";

/** The request itself is malformed (bad JSON, a field out of bounds, a profile not served). */
export class InvalidRequestError extends CellsegInputError {}

/** The body is larger than the configured limit. */
export class PayloadTooLargeError extends CellsegInputError {
  constructor(readonly maxBytes: number) {
    super(`the request body is larger than the limit of ${maxBytes} bytes`);
  }
}

/** The Content-Type is not one the endpoint reads. */
export class UnsupportedMediaTypeError extends CellsegInputError {}

/** The Accept header allows no format the endpoint writes. */
export class NotAcceptableError extends CellsegInputError {}

/** The models are still loading or warming up. */
export class NotReadyError extends Error {
  constructor() {
    super("the models are still loading; retry when GET /ping answers 200");
    this.name = "NotReadyError";
  }
}

/** The server received SIGTERM and finishes only the requests it already accepted. */
export class ShuttingDownError extends Error {
  constructor() {
    super("the server is shutting down");
    this.name = "ShuttingDownError";
  }
}

/** What an error becomes on the wire, and how loudly it is logged. */
export interface HttpError {
  readonly status: 400 | 404 | 406 | 413 | 415 | 500 | 503 | 504;
  readonly body: ErrorBody;
  readonly headers: Record<string, string>;
  /** `warn` for the caller's mistakes and overload, `error` (with the stack) for the server's own. */
  readonly logLevel: "warn" | "error";
}

/** Seconds a client should wait before retrying an overloaded or starting server. */
export const RETRY_AFTER_SECONDS = 1;

/** Every slot is taken and the waiting line is full. */
export class QueueFullError extends Error {
  constructor(
    readonly active: number,
    readonly pending: number,
  ) {
    super(`the server is busy (${active} running, ${pending} waiting); retry later`);
    this.name = "QueueFullError";
  }
}

/** The request did not finish within its deadline. */
export class RequestTimeoutError extends Error {
  constructor(
    readonly timeoutMs: number,
    readonly started: boolean,
  ) {
    super(
      `the request did not finish within ${timeoutMs} ms (${started ? "while running" : "while waiting for a slot"})`,
    );
    this.name = "RequestTimeoutError";
  }
}

/**
 * Maps any thrown value to its HTTP answer.
 *
 * @example
 * ```ts
 * app.onError((error, c) => {
 *   const { status, body, headers } = toHttpError(error);
 *   return c.json(body, status, headers);
 * });
 * ```
 */
export function toHttpError(error: unknown): HttpError {
  const answer = (code: EndpointErrorCode, message: string, extra: Partial<HttpError> = {}): HttpError => {
    const status = ENDPOINT_ERROR_STATUS[code];
    return {
      status,
      body: { error: { code, message } },
      headers: {},
      logLevel: status >= 500 && status !== 503 && status !== 504 ? "error" : "warn",
      ...extra,
    };
  };
  const retry = { headers: { "Retry-After": String(RETRY_AFTER_SECONDS) } };
  const codes = ENDPOINT_ERROR_CODES;

  if (error instanceof PayloadTooLargeError) return answer(codes.payloadTooLarge, error.message);
  if (error instanceof ImageTooLargeError) return answer(codes.imageTooLarge, error.message);
  if (error instanceof UnsupportedMediaTypeError) return answer(codes.unsupportedMediaType, error.message);
  if (error instanceof NotAcceptableError) return answer(codes.notAcceptable, error.message);
  if (error instanceof InvalidImageError) return answer(codes.invalidImage, error.message);
  if (error instanceof CellsegInputError) return answer(codes.invalidRequest, error.message);
  if (error instanceof QueueFullError) return answer(codes.queueFull, error.message, retry);
  if (error instanceof NotReadyError) return answer(codes.notReady, error.message, retry);
  if (error instanceof ShuttingDownError) return answer(codes.shuttingDown, error.message, retry);
  if (error instanceof RequestTimeoutError) return answer(codes.timeout, error.message);
  if (error instanceof ModelUnavailableError)
    return answer(codes.modelUnavailable, "the model is unavailable", { logLevel: "error" });
  // Hono's own (for example a body stream that broke off): keep its status for 4xx, hide details for 5xx.
  if (error instanceof HTTPException && error.status < 500) {
    return answer(codes.invalidRequest, error.message || "malformed request");
  }
  return answer(codes.internal, "internal error; see the server log");
}
