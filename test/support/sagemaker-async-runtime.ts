/**
 * A stand-in for SageMaker asynchronous inference (which cannot be reached from tests). It answers
 * InvokeEndpointAsync (`POST /endpoints/<name>/async-invocations`) as SageMaker does: the request's input
 * location, content types, TTL and timeout in `X-Amzn-SageMaker-*` headers; 202 with the output and failure
 * locations in headers and the inference id in the JSON body; ValidationError for an unknown endpoint or
 * out-of-range values. It then works through its queue like an endpoint instance: reads the input from S3,
 * passes it to a container, and writes the container's answer to `<S3OutputPath><uuid>.out`, or its error
 * body (only the body: SageMaker keeps no status there) to `<S3FailurePath><uuid>-error.out`.
 * A cold endpoint (scaled to zero) keeps its queue until warmed.
 * https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { S3Client } from "@aws-sdk/client-s3";
import { S3Storage } from "../../functions/pipeline/storage/s3-storage";

/** InvokeEndpointAsync's own failures that tests can inject. */
export type AsyncRuntimeFault = "ThrottlingException" | "ServiceUnavailable" | "InternalFailure";

/** The model container's `POST /invocations`, as the stand-in calls it. */
export type Container = (request: {
  body: Uint8Array;
  contentType: string;
  accept: string;
}) => Promise<{ status: number; body: Uint8Array | string }>;

/** One InvokeEndpointAsync call that was accepted, as SageMaker received it. */
export interface AsyncInvocation {
  readonly endpointName: string;
  readonly inferenceId: string;
  readonly inputLocation: string;
  readonly contentType: string;
  readonly accept: string;
  readonly requestTtlSeconds: number;
  readonly invocationTimeoutSeconds: number;
}

export interface SageMakerAsyncRuntimeOptions {
  /** The only endpoint that exists; calls to other names fail with ValidationError. */
  readonly endpointName: string;
  /** Reads the inputs and writes the outcomes. */
  readonly s3: S3Client;
  /** The endpoint configuration's S3OutputPath and S3FailurePath, `s3://bucket/prefix/`. */
  readonly outputPath: string;
  readonly failurePath: string;
  readonly container: Container;
  /** How long a warm instance takes to pick up a queued request. @default 0 */
  readonly pickUpDelayMs?: number;
}

export interface SageMakerAsyncRuntime {
  readonly url: string;
  /** The accepted calls, in order. */
  readonly calls: AsyncInvocation[];
  /** The next calls fail with these errors, in order. */
  inject(...faults: AsyncRuntimeFault[]): void;
  /** Scales to zero: requests queue up and nothing is processed until {@link warm}. */
  cold(): void;
  /** Starts an instance: the queue, and every later request, is processed. */
  warm(): void;
  close(): Promise<void>;
}

/**
 * A container that is a real model server: its `POST /invocations`.
 *
 * @example
 * ```ts
 * const runtime = await startSageMakerAsyncRuntime({ ...options, container: containerAt(server.url) });
 * ```
 */
export function containerAt(url: string): Container {
  return async ({ body, contentType, accept }) => {
    const answer = await fetch(`${url}/invocations`, {
      method: "POST",
      headers: { "Content-Type": contentType, Accept: accept },
      body,
    });
    return { status: answer.status, body: new Uint8Array(await answer.arrayBuffer()) };
  };
}

/**
 * @example
 * ```ts
 * const s3 = await startLocalS3(["cellseg-async"]);
 * const runtime = await startSageMakerAsyncRuntime({
 *   endpointName: "cellseg-async",
 *   s3: localS3Client(s3),
 *   outputPath: "s3://cellseg-async/outputs/",
 *   failurePath: "s3://cellseg-async/failures/",
 *   container: containerAt(server.url),
 * });
 * const client = new SageMakerRuntimeClient({
 *   endpoint: runtime.url,
 *   region: "us-east-1",
 *   credentials,
 *   maxAttempts: 1,
 * });
 * ```
 */
export async function startSageMakerAsyncRuntime(
  options: SageMakerAsyncRuntimeOptions,
): Promise<SageMakerAsyncRuntime> {
  const faults: AsyncRuntimeFault[] = [];
  const calls: AsyncInvocation[] = [];
  const queue: { invocation: AsyncInvocation; output: string; failure: string }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let warm = true;

  const storage = (uri: string) => {
    const { bucket, key } = parseS3Uri(uri)!;
    return { store: new S3Storage(options.s3, bucket), key };
  };

  const processRequest = async (work: (typeof queue)[number]) => {
    const input = storage(work.invocation.inputLocation);
    const object = await input.store.get(input.key);
    // The caller gave up and deleted its request: nothing to compute.
    if (object === undefined) return;
    const answer = await options.container({
      body: object.body,
      contentType: work.invocation.contentType,
      accept: work.invocation.accept,
    });
    const outcome = storage(answer.status >= 200 && answer.status < 300 ? work.output : work.failure);
    await outcome.store.put(outcome.key, answer.body);
  };

  const drain = () => {
    while (warm && queue.length > 0) {
      const work = queue.shift()!;
      const timer = setTimeout(() => {
        timers.delete(timer);
        // A test may close S3 while a request is still being processed.
        processRequest(work).catch(() => undefined);
      }, options.pickUpDelayMs ?? 0);
      timers.add(timer);
    }
  };

  const server: Server = createServer(async (request, response) => {
    // The operation carries everything in headers; the body is empty.
    request.resume();
    await once(request, "end");
    const answer = invokeEndpointAsync(request);
    response.writeHead(answer.status, answer.headers);
    response.end(answer.body);
  });

  function invokeEndpointAsync(request: IncomingMessage): {
    status: number;
    headers: Record<string, string>;
    body: string;
  } {
    const error = (status: number, type: string, message: string) => ({
      status,
      headers: { "Content-Type": "application/json", "x-amzn-ErrorType": type, "x-amzn-RequestId": randomUUID() },
      body: JSON.stringify({ message }),
    });
    const match = /^\/endpoints\/([^/]+)\/async-invocations$/.exec(request.url ?? "");
    if (request.method !== "POST" || match === null)
      return error(404, "UnknownOperationException", `no operation for ${request.method} ${request.url}`);
    const fault = faults.shift();
    if (fault === "ThrottlingException") return error(400, fault, "Rate exceeded");
    if (fault === "ServiceUnavailable") return error(503, fault, "Service is unavailable");
    if (fault === "InternalFailure") return error(500, fault, "An internal failure occurred");
    const header = (name: string) => request.headers[name.toLowerCase()] as string | undefined;
    const endpointName = decodeURIComponent(match[1]);
    if (endpointName !== options.endpointName)
      return error(400, "ValidationError", `Endpoint ${endpointName} of account 123456789012 not found.`);
    const inputLocation = header("X-Amzn-SageMaker-InputLocation");
    if (inputLocation === undefined || parseS3Uri(inputLocation) === undefined)
      return error(400, "ValidationError", `InputLocation must be an S3 URI, got ${inputLocation}`);
    // The documented defaults and ranges: TTL 6 h in [60, 21600], processing 15 min in [1, 3600].
    const requestTtlSeconds = Number(header("X-Amzn-SageMaker-RequestTTLSeconds") ?? 21_600);
    const invocationTimeoutSeconds = Number(header("X-Amzn-SageMaker-InvocationTimeoutSeconds") ?? 900);
    if (!(requestTtlSeconds >= 60 && requestTtlSeconds <= 21_600))
      return error(400, "ValidationError", `RequestTTLSeconds ${requestTtlSeconds} is out of range`);
    if (!(invocationTimeoutSeconds >= 1 && invocationTimeoutSeconds <= 3_600)) {
      return error(400, "ValidationError", `InvocationTimeoutSeconds ${invocationTimeoutSeconds} is out of range`);
    }
    const invocation: AsyncInvocation = {
      endpointName,
      inferenceId: header("X-Amzn-SageMaker-Inference-Id") ?? randomUUID(),
      inputLocation,
      contentType: header("X-Amzn-SageMaker-Content-Type") ?? "application/octet-stream",
      accept: header("X-Amzn-SageMaker-Accept") ?? "*/*",
      requestTtlSeconds,
      invocationTimeoutSeconds,
    };
    calls.push(invocation);
    const name = randomUUID();
    const work = {
      invocation,
      output: `${options.outputPath}${name}.out`,
      failure: `${options.failurePath}${name}-error.out`,
    };
    queue.push(work);
    drain();
    return {
      status: 202,
      headers: {
        "Content-Type": "application/json",
        "X-Amzn-SageMaker-OutputLocation": work.output,
        "X-Amzn-SageMaker-FailureLocation": work.failure,
      },
      body: JSON.stringify({ InferenceId: invocation.inferenceId }),
    };
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    inject: (...more) => faults.push(...more),
    cold: () => {
      warm = false;
    },
    warm: () => {
      warm = true;
      drain();
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      queue.length = 0;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function parseS3Uri(uri: string): { bucket: string; key: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  return match === null ? undefined : { bucket: match[1], key: match[2] };
}
