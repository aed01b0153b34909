/** Request body limits that fail with the API's own 413 answer. */
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { bodyLimit } from "hono/body-limit";
import { ApiRequestError } from "../errors";

function tooLarge(maxBytes: number): ApiRequestError {
  return new ApiRequestError(
    413,
    "payload_too_large",
    `the request body is larger than the limit of ${maxBytes} bytes`,
    { maxBytes },
  );
}

/**
 * For bodies the route reads whole (JSON, one image). A body sent without Content-Length is held in memory
 * while it is counted: see streamedBody for large ones.
 *
 * @example
 * ```ts
 * createRoute({ method: "post", path: "/v1/jobs", middleware: [limitBody(8 * 1024 * 1024)] as const, ... });
 * ```
 */
export function limitBody(maxBytes: number) {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw tooLarge(maxBytes);
    },
  });
}

/**
 * The request's body as it arrives, for a route that streams it to storage: refused at once when its
 * Content-Length is over `maxBytes`; otherwise (sent chunked, or a Content-Length that lies) failing with the
 * same 413 once more than `maxBytes` have passed. Nothing is held beyond the chunk in hand.
 *
 * @returns undefined for a request without a body.
 * @throws ApiRequestError 413 when the declared length is over the limit.
 * @example
 * ```ts
 * const body = streamedBody(c.req.raw, maxBytes);
 * const size = body ? await storage.putStream(key, body) : 0;
 * ```
 */
export function streamedBody(request: Request, maxBytes: number): AsyncIterable<Uint8Array> | undefined {
  if (Number(request.headers.get("content-length") ?? 0) > maxBytes) throw tooLarge(maxBytes);
  if (!request.body) return undefined;
  return limited(Readable.fromWeb(request.body as WebReadableStream<Uint8Array>), maxBytes);
}

async function* limited(chunks: AsyncIterable<Uint8Array>, maxBytes: number): AsyncGenerator<Uint8Array> {
  let size = 0;
  for await (const chunk of chunks) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(maxBytes);
    yield chunk;
  }
}
