/** Request body limits that fail with the API's own 413 answer. */
import { bodyLimit } from "hono/body-limit";
import { ApiRequestError } from "../errors";

/**
 * @example
 * ```ts
 * createRoute({ method: "post", path: "/v1/jobs", middleware: [limitBody(8 * 1024 * 1024)] as const, ... });
 * ```
 */
export function limitBody(maxBytes: number) {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiRequestError(413, "payload_too_large", `the request body is larger than the limit of ${maxBytes} bytes`, { maxBytes });
    },
  });
}
