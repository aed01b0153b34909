/**
 * {@link SegmentationEndpoint} on a SageMaker asynchronous endpoint (InvokeEndpointAsync), for deployments
 * whose endpoint scales to zero when idle: cheap, but the first call after a quiet spell waits minutes for
 * an instance. The tile's request goes to S3; SageMaker queues it, passes it to the same model container as
 * the real-time endpoint, and writes the container's answer to an output object, or its error body to a
 * failure object. This endpoint polls for the two until one appears or the call's deadline passes.
 * https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html
 *
 * The runtime client should be built with `maxAttempts: 1`, as for the real-time endpoint: retries are the
 * pipeline's.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { DeleteObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { InvokeEndpointAsyncCommand, type SageMakerRuntimeClient } from "@aws-sdk/client-sagemaker-runtime";
import { errorBodySchema, type EndpointErrorCode, type InvocationResponse } from "../../../core/schemas/endpoint";
import { ENDPOINT_ERROR_STATUS } from "../../../model-container/src/server/error-status";
import {
  endpointErrorFor,
  invocationBody,
  parseInvocationResponse,
  type InvokeOptions,
  type SegmentationEndpoint,
  type TileRequest,
} from "./endpoint";
import { EndpointProtocolError, EndpointUnavailableError, type EndpointRejectedError } from "./errors";
import { S3Storage } from "../storage/s3-storage";
import { sageMakerRuntimeError } from "./sagemaker-endpoint";

export interface SageMakerAsyncEndpointOptions {
  /** The bucket the requests are written to; the endpoint's execution role must be able to read it. */
  readonly bucket: string;
  /** Key prefix of the requests, ending with `/`: each is `<prefix>requests/<uuid>.json`. */
  readonly prefix: string;
  /**
   * Give up on one call after this long (a retryable {@link EndpointUnavailableError}). An endpoint scaled to
   * zero takes minutes to start an instance, so this is far longer than a real-time call's deadline.
   */
  readonly timeoutMs: number;
  /** The first wait between two polls for the answer; each wait doubles, up to `maxPollMs`. @default 250 */
  readonly firstPollMs?: number;
  /** @default 5000 */
  readonly maxPollMs?: number;
}

/** An object named by an `s3://bucket/key` URI, as InvokeEndpointAsync names its output and failure. */
interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

/** InvokeEndpointAsync's bounds, in seconds (its API reference, "Request Syntax"). */
const REQUEST_TTL_SECONDS = { min: 60, max: 21_600 } as const;
const INVOCATION_TIMEOUT_SECONDS = { min: 1, max: 3_600 } as const;

/**
 * @example
 * ```ts
 * const runtime = new SageMakerRuntimeClient({ maxAttempts: 1 });
 * const endpoint = new SageMakerAsyncEndpoint(runtime, new S3Client({}), "cellseg-async", {
 *   bucket: "cellseg-async",
 *   prefix: "async/",
 *   timeoutMs: 600_000,
 * });
 * const answer = await endpoint.invoke({ image: png, tileOrigin: { x: 0, y: 0 } });
 * ```
 */
export class SageMakerAsyncEndpoint implements SegmentationEndpoint {
  readonly name: string;

  constructor(
    private readonly runtime: SageMakerRuntimeClient,
    private readonly s3: S3Client,
    private readonly endpointName: string,
    private readonly options: SageMakerAsyncEndpointOptions,
  ) {
    this.name = `sagemaker-async:${endpointName}`;
  }

  async invoke(request: TileRequest, options: InvokeOptions = {}): Promise<InvocationResponse> {
    const deadline = AbortSignal.timeout(this.options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    const inferenceId = randomUUID();
    const input: S3Location = {
      bucket: this.options.bucket,
      key: `${this.options.prefix}requests/${inferenceId}.json`,
    };
    try {
      await this.storage(input).put(input.key, invocationBody(request), { contentType: "application/json" });
      const { output, failure } = await this.enqueue(inferenceId, input, signal);
      return await this.awaitOutcome(output, failure, signal);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (deadline.aborted) {
        throw new EndpointUnavailableError(
          `the async endpoint ${this.endpointName} did not answer within ${this.options.timeoutMs} ms: it ` +
            "may still be starting an instance after scaling to zero, so a later try can succeed",
          // Another full wait now could outlast the function; the job's redelivery tries again later.
          { cause: error, retryNow: false },
        );
      }
      throw error;
    } finally {
      // Also when we gave up: a request still queued then fails at once instead of being computed for nobody.
      await this.discard(input);
    }
  }

  /** Queues the request; SageMaker answers where the outcome will appear. */
  private async enqueue(
    inferenceId: string,
    input: S3Location,
    signal: AbortSignal,
  ): Promise<{ output: S3Location; failure: S3Location | undefined }> {
    // Neither queued nor running past our deadline: after it, nobody reads the answer.
    const seconds = Math.ceil(this.options.timeoutMs / 1000);
    const answer = await this.runtime
      .send(
        new InvokeEndpointAsyncCommand({
          EndpointName: this.endpointName,
          InputLocation: `s3://${input.bucket}/${input.key}`,
          InferenceId: inferenceId,
          ContentType: "application/json",
          Accept: "application/json",
          RequestTTLSeconds: Math.min(REQUEST_TTL_SECONDS.max, Math.max(REQUEST_TTL_SECONDS.min, seconds)),
          InvocationTimeoutSeconds: Math.min(
            INVOCATION_TIMEOUT_SECONDS.max,
            Math.max(INVOCATION_TIMEOUT_SECONDS.min, seconds),
          ),
        }),
        { abortSignal: signal },
      )
      .catch((error: unknown) => {
        // Aborted by the caller or the deadline: invoke tells which.
        throw signal.aborted ? error : sageMakerRuntimeError(error, this.endpointName);
      });
    if (answer.OutputLocation === undefined)
      throw new EndpointProtocolError(`InvokeEndpointAsync on ${this.endpointName} answered no OutputLocation`);
    // An endpoint configured without S3FailurePath gives none: its failures then look like a slow endpoint.
    return {
      output: parseS3Uri(answer.OutputLocation),
      failure: answer.FailureLocation === undefined ? undefined : parseS3Uri(answer.FailureLocation),
    };
  }

  /** Polls for the output and the failure object with growing waits, and turns whichever appears into the outcome. */
  private async awaitOutcome(
    output: S3Location,
    failure: S3Location | undefined,
    signal: AbortSignal,
  ): Promise<InvocationResponse> {
    const maxPollMs = this.options.maxPollMs ?? 5_000;
    for (
      let waitMs = Math.min(this.options.firstPollMs ?? 250, maxPollMs);
      ;
      waitMs = Math.min(2 * waitMs, maxPollMs)
    ) {
      const [answered, failed] = await Promise.all([
        this.exists(output),
        failure !== undefined && this.exists(failure),
      ]);
      if (answered) return parseInvocationResponse(await this.take(output));
      if (failure !== undefined && failed) throw failureError(await this.take(failure), failure);
      await sleep(waitMs, undefined, { signal });
    }
  }

  private storage(location: S3Location): S3Storage {
    return new S3Storage(this.s3, location.bucket);
  }

  private async exists(location: S3Location): Promise<boolean> {
    return (await this.storage(location).head(location.key)) !== undefined;
  }

  /** Reads an outcome object and deletes it, as nobody reads it again. */
  private async take(location: S3Location): Promise<string> {
    const object = await this.storage(location).get(location.key);
    await this.discard(location);
    return new TextDecoder().decode(object?.body ?? new Uint8Array(0));
  }

  /**
   * Deletes an object, best effort: what is left behind expires by the bucket's lifecycle rule. Through the
   * client, as Storage has no delete (nothing else in the pipeline deletes).
   */
  private async discard(location: S3Location): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: location.bucket, Key: location.key })).catch(() => undefined);
  }
}

function parseS3Uri(uri: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (match === null)
    throw new EndpointProtocolError(`InvokeEndpointAsync answered a location that is not an s3:// URI: ${uri}`);
  return { bucket: match[1], key: match[2] };
}

/**
 * The error for a failure object: our container's error body is judged as {@link endpointErrorFor} judges
 * the answer it came with; anything else is SageMaker's own failure (the container crashed or ran out of
 * time), worth retrying.
 */
function failureError(body: string, location: S3Location): EndpointUnavailableError | EndpointRejectedError {
  const code = errorCodeOf(body);
  // SageMaker writes the container's error body to the failure object, but not its status.
  if (code !== undefined && Object.hasOwn(ENDPOINT_ERROR_STATUS, code))
    return endpointErrorFor(ENDPOINT_ERROR_STATUS[code as EndpointErrorCode], body);
  return new EndpointUnavailableError(
    `the async endpoint failed (s3://${location.bucket}/${location.key}): ${body.slice(0, 500) || "no detail"}`,
  );
}

function errorCodeOf(body: string): string | undefined {
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data.error.code : undefined;
  } catch {
    return undefined;
  }
}
