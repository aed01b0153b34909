/**
 * {@link SegmentationEndpoint} on a SageMaker real-time endpoint (InvokeEndpoint), which runs the model
 * container. The client should be built with `maxAttempts: 1`: retries are the pipeline's (see
 * endpoint.ts `retrying`), and two layers of them would multiply.
 */
import { InvokeEndpointCommand, ModelError, type SageMakerRuntimeClient } from "@aws-sdk/client-sagemaker-runtime";
import type { InvocationResponse } from "../../../core/schemas/endpoint";
import {
  endpointErrorFor,
  invocationBody,
  parseInvocationResponse,
  type InvokeOptions,
  type SegmentationEndpoint,
  type TileRequest,
} from "./endpoint";
import { EndpointRejectedError, EndpointUnavailableError } from "./errors";

export interface SageMakerEndpointOptions {
  /** Give up on one call after this long (a retryable timeout). SageMaker itself gives up after 60 s. */
  readonly timeoutMs: number;
}

/**
 * SageMaker's errors that mean "not now": throttling, the endpoint scaling or starting, its own failures.
 * (the Errors sections of https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html
 * and https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html)
 */
const TRANSIENT_ERRORS = new Set([
  "ThrottlingException",
  "ServiceUnavailable",
  "InternalFailure",
  "InternalDependencyException",
  "ModelNotReadyException",
  "TimeoutError",
  "RequestTimeout",
]);

/**
 * SageMaker runtime's error as ours: the container's own answer for a ModelError, else by SageMaker's error
 * name and status. InvokeEndpoint and InvokeEndpointAsync fail the same way, so both endpoints use it.
 *
 * @example
 * ```ts
 * try {
 *   await client.send(new InvokeEndpointAsyncCommand({ EndpointName: name, InputLocation: location }));
 * } catch (error) {
 *   throw sageMakerRuntimeError(error, name);
 * }
 * ```
 */
export function sageMakerRuntimeError(
  error: unknown,
  endpointName: string,
): EndpointUnavailableError | EndpointRejectedError {
  if (error instanceof ModelError && error.OriginalStatusCode !== undefined) {
    const translated = endpointErrorFor(error.OriginalStatusCode, error.OriginalMessage ?? "");
    translated.cause = error;
    return translated;
  }
  const name = (error as { name?: string }).name ?? "Error";
  const message = (error as Error).message;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  // No HTTP status at all: the request never got an answer (connection reset, DNS), worth retrying.
  if (TRANSIENT_ERRORS.has(name) || status === undefined || status === 429 || status >= 500) {
    return new EndpointUnavailableError(`SageMaker endpoint ${endpointName} failed: ${name}: ${message}`, {
      cause: error,
      ...(status ? { status } : {}),
    });
  }
  return new EndpointRejectedError(`SageMaker refused the call to ${endpointName}: ${name}: ${message}`, {
    status,
    code: name,
    cause: error,
  });
}

/**
 * @example
 * ```ts
 * const client = new SageMakerRuntimeClient({ maxAttempts: 1 });
 * const endpoint = new SageMakerEndpoint(client, "cellseg-endpoint", { timeoutMs: 60_000 });
 * ```
 */
export class SageMakerEndpoint implements SegmentationEndpoint {
  readonly name: string;

  constructor(
    private readonly client: SageMakerRuntimeClient,
    private readonly endpointName: string,
    private readonly options: SageMakerEndpointOptions,
  ) {
    this.name = `sagemaker:${endpointName}`;
  }

  async invoke(request: TileRequest, options: InvokeOptions = {}): Promise<InvocationResponse> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const abortSignal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let body: Uint8Array | undefined;
    try {
      const response = await this.client.send(
        new InvokeEndpointCommand({
          EndpointName: this.endpointName,
          ContentType: "application/json",
          Accept: "application/json",
          Body: new TextEncoder().encode(invocationBody(request)),
        }),
        { abortSignal },
      );
      body = response.Body;
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (timeout.aborted) {
        throw new EndpointUnavailableError(
          `the endpoint ${this.endpointName} did not answer within ${this.options.timeoutMs} ms`,
          { cause: error },
        );
      }
      throw sageMakerRuntimeError(error, this.endpointName);
    }
    return parseInvocationResponse(new TextDecoder().decode(body ?? new Uint8Array(0)));
  }
}
