/**
 * {@link SegmentationEndpoint} over plain HTTP: the model server (model-container) run locally, or any
 * server with the SageMaker container contract (`POST /invocations`).
 */
import type { InvocationResponse } from "../../../core/schemas/endpoint";
import {
  endpointErrorFor,
  invocationBody,
  parseInvocationResponse,
  type InvokeOptions,
  type SegmentationEndpoint,
  type TileRequest,
} from "./endpoint";
import { EndpointUnavailableError } from "./errors";

export interface HttpEndpointOptions {
  /** Give up on one call after this long (a retryable timeout). */
  readonly timeoutMs: number;
}

/**
 * @example
 * ```ts
 * const endpoint = new HttpEndpoint("http://localhost:8080", { timeoutMs: 60_000 });
 * const answer = await endpoint.invoke({ image: png, tileOrigin: { x: 0, y: 0 } });
 * ```
 */
export class HttpEndpoint implements SegmentationEndpoint {
  readonly name: string;
  private readonly url: string;

  constructor(
    baseUrl: string,
    private readonly options: HttpEndpointOptions,
  ) {
    this.url = new URL("invocations", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`).toString();
    this.name = this.url;
  }

  async invoke(request: TileRequest, options: InvokeOptions = {}): Promise<InvocationResponse> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const response = await fetch(this.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: invocationBody(request),
        signal,
      });
      status = response.status;
      retryAfter = response.headers.get("retry-after");
      // Read under the same deadline: a server can hang in the middle of its body too.
      text = await response.text();
    } catch (error) {
      // The caller's own cancellation is not the endpoint's failure.
      if (options.signal?.aborted) throw options.signal.reason;
      if (timeout.aborted) {
        throw new EndpointUnavailableError(
          `the endpoint ${this.url} did not answer within ${this.options.timeoutMs} ms`,
          { cause: error },
        );
      }
      const reason = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
      throw new EndpointUnavailableError(`cannot reach the endpoint ${this.url}: ${reason}`, { cause: error });
    }
    if (status < 200 || status > 299) throw endpointErrorFor(status, text, retryAfter);
    return parseInvocationResponse(text);
  }
}
