/**
 * The model endpoint as the pipeline sees it: "segment this tile". Two implementations speak the same
 * JSON contract (core/schemas/endpoint.ts): SageMaker's InvokeEndpoint in AWS, plain HTTP to the model
 * server locally. Retries and the concurrency bound are decorators shared by both, so the pipeline does
 * not know which endpoint it has.
 */
import pLimit from "p-limit";
import {
  errorBodySchema,
  invocationResponseSchema,
  type InvocationRequest,
  type InvocationResponse,
  type ThresholdOverrides,
  type TileOrigin,
} from "../../../core/schemas/endpoint";
import type { Profile } from "../../../core/schemas/manifest";
import { EndpointProtocolError, EndpointRejectedError, EndpointUnavailableError } from "./errors";
import { isRetryable } from "../errors";
import { withRetries, type RetryPolicy } from "./retry";

/** One tile to segment. */
export interface TileRequest {
  /** PNG (or TIFF, JPEG) bytes of the tile. */
  readonly image: Uint8Array;
  /** Where the tile sits in its image; the endpoint echoes it. */
  readonly tileOrigin: TileOrigin;
  /** The endpoint's default profile when left out. */
  readonly profile?: Profile;
  readonly thresholds?: ThresholdOverrides;
}

export interface InvokeOptions {
  /** Cancels the call (and its retries). */
  readonly signal?: AbortSignal;
  /** Told of each retry of this call, e.g. to count them per job. */
  readonly onRetry?: (event: { error: unknown; attempt: number; delayMs: number }) => void;
}

/**
 * @example
 * ```ts
 * const answer = await endpoint.invoke({ image: png, tileOrigin: { x: 576, y: 0 } });
 * for (const cell of answer.instances) console.log(cell.cellType, cell.rle);
 * ```
 */
export interface SegmentationEndpoint {
  /** For logs: the URL or the SageMaker endpoint name. */
  readonly name: string;
  /**
   * @throws EndpointUnavailableError when the endpoint is throttling, failing (5xx), slow or unreachable.
   * @throws EndpointRejectedError when it refuses the request (4xx).
   * @throws EndpointProtocolError when its answer is not an invocation response.
   */
  invoke(request: TileRequest, options?: InvokeOptions): Promise<InvocationResponse>;
}

/**
 * The JSON body of `POST /invocations` for a tile.
 *
 * @example
 * ```ts
 * await fetch(`${url}/invocations`, {
 *   method: "POST",
 *   headers: { "Content-Type": "application/json" },
 *   body: invocationBody(tile),
 * });
 * ```
 */
export function invocationBody(request: TileRequest): string {
  const body: InvocationRequest = {
    image: Buffer.from(request.image.buffer, request.image.byteOffset, request.image.byteLength).toString("base64"),
    tileOrigin: request.tileOrigin,
    ...(request.profile ? { profile: request.profile } : {}),
    ...(request.thresholds ? { thresholds: request.thresholds } : {}),
  };
  return JSON.stringify(body);
}

/**
 * Parses a 200 answer with the endpoint's own response schema.
 *
 * @throws EndpointProtocolError when it is not JSON or not an invocation response.
 */
export function parseInvocationResponse(text: string): InvocationResponse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new EndpointProtocolError(`the endpoint's answer is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = invocationResponseSchema.safeParse(json);
  if (!parsed.success) {
    throw new EndpointProtocolError(`the endpoint's answer is not an invocation response: ${parsed.error.message}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** Statuses that say "not now" rather than "not this": throttling, timeouts and server failures. */
function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * The error for a non-2xx answer: {@link EndpointUnavailableError} for 408, 429 and 5xx (with the
 * Retry-After the answer carried), {@link EndpointRejectedError} for other statuses, with the endpoint's
 * error code and message when its body has them.
 *
 * @example
 * ```ts
 * if (!response.ok) {
 *   throw endpointErrorFor(response.status, await response.text(), response.headers.get("retry-after"));
 * }
 * ```
 */
export function endpointErrorFor(
  status: number,
  body: string,
  retryAfter?: string | null,
): EndpointUnavailableError | EndpointRejectedError {
  let code: string | undefined;
  let detail = body.slice(0, 500);
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(body));
    if (parsed.success) ({ code, message: detail } = parsed.data.error);
  } catch {
    // Not JSON (a proxy's HTML page, say): the text itself is the detail.
  }
  const message = `the endpoint answered ${status}${code ? ` ${code}` : ""}${detail ? `: ${detail}` : ""}`;
  if (isTransientStatus(status)) {
    const seconds = retryAfter ? Number(retryAfter) : NaN;
    return new EndpointUnavailableError(message, {
      status,
      ...(Number.isFinite(seconds) && seconds >= 0 ? { retryAfterMs: seconds * 1000 } : {}),
    });
  }
  return new EndpointRejectedError(message, { status, ...(code ? { code } : {}) });
}

/**
 * Retries an endpoint's transient failures ({@link EndpointUnavailableError}) with backoff; refusals and
 * protocol errors are thrown at once.
 *
 * @example
 * ```ts
 * const endpoint = retrying(new HttpEndpoint(url, { timeoutMs: 60_000 }), {
 *   maxAttempts: 5,
 *   baseDelayMs: 200,
 *   maxDelayMs: 10_000,
 * });
 * ```
 */
export function retrying(
  endpoint: SegmentationEndpoint,
  policy: RetryPolicy,
  random?: () => number,
): SegmentationEndpoint {
  return {
    name: endpoint.name,
    invoke: (request, options = {}) =>
      withRetries(() => endpoint.invoke(request, options), policy, {
        isRetryable: (error) => isRetryable(error) && !(error instanceof EndpointUnavailableError && !error.retryNow),
        requestedDelayMs: (error) => (error instanceof EndpointUnavailableError ? error.retryAfterMs : undefined),
        ...(options.onRetry ? { onRetry: options.onRetry } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(random ? { random } : {}),
      }),
  };
}

/**
 * Bounds the calls in flight through this endpoint, across every job that shares it; a call waiting for
 * its retry keeps its slot, which eases the load on a throttling endpoint.
 *
 * @example
 * ```ts
 * const endpoint = limited(retrying(base, policy), 4);
 * ```
 */
export function limited(endpoint: SegmentationEndpoint, concurrency: number): SegmentationEndpoint {
  const limit = pLimit(concurrency);
  return { name: endpoint.name, invoke: (request, options) => limit(() => endpoint.invoke(request, options)) };
}
