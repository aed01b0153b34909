/**
 * The HTTP status the model server answers each error code of its contract (core/schemas/endpoint.ts)
 * with. The server answers by it (errors.ts), and a client that gets only the body (SageMaker's
 * asynchronous failure objects, functions/pipeline) recovers the status from it.
 */
import type { EndpointErrorCode } from "../../../core/schemas/endpoint";

/** Typed over every code, so a new code cannot be left out. */
export const ENDPOINT_ERROR_STATUS = {
  invalid_request: 400,
  invalid_image: 400,
  not_found: 404,
  not_acceptable: 406,
  image_too_large: 413,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  not_ready: 503,
  shutting_down: 503,
  queue_full: 503,
  model_unavailable: 503,
  timeout: 504,
} as const satisfies Record<EndpointErrorCode, number>;
