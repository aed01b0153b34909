/**
 * The one place where the API turns errors into HTTP answers: routes throw, `app.onError` calls
 * {@link toApiError}. A mistake the client can fix is a 4xx naming it; an endpoint that is busy or waking
 * up is a 503 with Retry-After; anything unexpected is a 500 whose body says nothing internal (the log
 * has the details).
 */
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ImageTooLargeError, InvalidImageError } from "../../core/errors";
import type { ApiErrorBody } from "../../core/schemas/api";
import { ENDPOINT_ERROR_CODES } from "../../core/schemas/endpoint";
import { JobNotFoundError, JobRequestError, ResultNotAvailableError } from "../jobs/errors";
import { UploadTokenError } from "../jobs/errors";
import { EndpointRejectedError, EndpointUnavailableError } from "../pipeline/endpoint/errors";

/** A request the API refuses before any domain code runs (validation, size, auth, content type). */
export class ApiRequestError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 413 | 415,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiRequestError";
  }
}

export interface ApiError {
  readonly status: ContentfulStatusCode;
  readonly body: ApiErrorBody;
  readonly headers: Record<string, string>;
  /** `warn` for the client's mistakes and overload, `error` for the API's own failures. */
  readonly logLevel: "warn" | "error";
}

const HTTP_EXCEPTION_CODES: Partial<Record<number, string>> = {
  400: "invalid_request",
  413: "payload_too_large",
  415: "unsupported_media_type",
};

/** Seconds a client should wait when the model endpoint is busy or scaling. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * @example
 * ```ts
 * app.onError((error, c) => {
 *   const { status, body, headers } = toApiError(error);
 *   return c.json(body, status, headers);
 * });
 * ```
 */
export function toApiError(error: unknown): ApiError {
  const answer = (
    status: ContentfulStatusCode,
    code: string,
    message: string,
    details?: unknown,
    headers: Record<string, string> = {},
  ): ApiError => ({
    status,
    body: { error: { code, message, ...(details !== undefined ? { details } : {}) } },
    headers,
    logLevel: status >= 500 && status !== 503 ? "error" : "warn",
  });
  if (error instanceof ApiRequestError) return answer(error.status, error.code, error.message, error.details);
  if (error instanceof JobNotFoundError) return answer(404, error.code, error.message);
  if (error instanceof JobRequestError)
    return answer(error.code === "unknown_file" ? 404 : 400, error.code, error.message, error.details);
  if (error instanceof ResultNotAvailableError) return answer(409, error.code, error.message, error.details);
  if (error instanceof UploadTokenError) return answer(403, error.code, error.message);
  if (error instanceof ImageTooLargeError) return answer(413, "image_too_large", error.message);
  if (error instanceof InvalidImageError) return answer(400, "invalid_image", error.message);
  if (error instanceof EndpointRejectedError) {
    // Only the image's own faults are the client's; any other refusal (access denied, a wrong URL, a
    // request the API built badly) is the deployment's, and its text may name internals.
    if (error.code === ENDPOINT_ERROR_CODES.imageTooLarge) return answer(413, error.code, error.message);
    if (error.code === ENDPOINT_ERROR_CODES.invalidImage) return answer(400, error.code, error.message);
  }
  if (error instanceof EndpointUnavailableError) {
    return answer(503, "endpoint_unavailable", error.message, undefined, {
      "Retry-After": String(RETRY_AFTER_SECONDS),
    });
  }
  if (error instanceof HTTPException) {
    // hono's own refusals: a body that is not JSON on a JSON route (415), malformed JSON (400).
    const code = HTTP_EXCEPTION_CODES[error.status] ?? "http_error";
    return answer(error.status as ContentfulStatusCode, code, error.message || "request refused");
  }
  return answer(500, "internal", "the request failed unexpectedly; it has been logged");
}
