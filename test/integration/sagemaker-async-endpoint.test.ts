/**
 * SageMakerAsyncEndpoint against a real S3 protocol server (s3rver) and a stand-in for SageMaker
 * asynchronous inference that speaks InvokeEndpointAsync's wire protocol: with a deterministic container
 * for the error paths, and with the real model server for one end-to-end tile.
 */
import path from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { SageMakerRuntimeClient } from "@aws-sdk/client-sagemaker-runtime";
import sharp from "sharp";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { InvocationResponse } from "../../core/schemas/endpoint";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { loadPipelineConfig } from "../../functions/pipeline/config";
import { createSegmentHandler } from "../../functions/segment/handler";
import type { DeliveredMessage } from "../../functions/segment/message-visibility";
import { lambdaContext, objectCreatedRecord, sqsEvent } from "../support/sqs-events";
import { invocationBody, retrying, type TileRequest } from "../../functions/pipeline/endpoint/endpoint";
import { EndpointRejectedError, EndpointUnavailableError } from "../../functions/pipeline/endpoint/errors";
import { isRetryable } from "../../functions/pipeline/errors";
import { S3Storage } from "../../functions/pipeline/storage/s3-storage";
import { SageMakerAsyncEndpoint } from "../../functions/pipeline/endpoint/sagemaker-async-endpoint";
import { wirePipeline } from "../../functions/pipeline/wiring";
import { LOCAL_S3_CREDENTIALS, localS3Client, startLocalS3, type LocalS3 } from "../support/local-s3";
import { startModelServer, type ModelServer } from "../support/model-server";
import {
  containerAt,
  startSageMakerAsyncRuntime,
  type Container,
  type SageMakerAsyncRuntime,
} from "../support/sagemaker-async-runtime";
import { TRAIN_IMAGES } from "./helpers";

const ENDPOINT_NAME = "cellseg-async";
const REQUEST_BUCKET = "cellseg-async";
const RESULT_BUCKET = "cellseg-async-results";
const TILE: TileRequest = {
  image: new TextEncoder().encode("tile bytes"),
  tileOrigin: { x: 704, y: 520 },
  profile: "fast",
};

/** What a container answers for TILE: enough to tell that the answer went through unchanged. */
const ANSWER: InvocationResponse = {
  modelVersion: "test-model",
  manifestSha256: "a".repeat(64),
  profile: "fast",
  executionProvider: "cpu",
  width: 704,
  height: 520,
  tileOrigin: { x: 704, y: 520 },
  cellType: "astro",
  instances: [{ cellType: "astro", score: 0.9, box: [10, 10, 14, 12], area: 8, rle: "7051 4 7755 4" }],
  timings: { decodeMs: 1, normalizeMs: 1, inferenceMs: 1, postprocessMs: 1, encodeMs: 1, queueMs: 0, totalMs: 5 },
};

/** Starts s3rver with the two buckets and the stand-in, which asks `container` for each answer. */
async function startAsyncInference(
  container: Container,
): Promise<{ s3: LocalS3; client: S3Client; runtime: SageMakerAsyncRuntime; sagemaker: SageMakerRuntimeClient }> {
  const s3 = await startLocalS3([REQUEST_BUCKET, RESULT_BUCKET]);
  const client = localS3Client(s3);
  const runtime = await startSageMakerAsyncRuntime({
    endpointName: ENDPOINT_NAME,
    s3: client,
    outputPath: `s3://${RESULT_BUCKET}/outputs/`,
    failurePath: `s3://${RESULT_BUCKET}/failures/`,
    container,
    pickUpDelayMs: 50,
  });
  const sagemaker = new SageMakerRuntimeClient({
    endpoint: runtime.url,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  return { s3, client, runtime, sagemaker };
}

/** Every object left in the two buckets. */
async function leftovers(client: S3Client): Promise<string[]> {
  const lists = await Promise.all(
    [REQUEST_BUCKET, RESULT_BUCKET].map((bucket) => new S3Storage(client, bucket).list("")),
  );
  return lists.flat().map((object) => object.key);
}

const json = (status: number, body: unknown) => ({ status, body: JSON.stringify(body) });

describe("SageMakerAsyncEndpoint (s3rver + an InvokeEndpointAsync stand-in)", () => {
  let s3: LocalS3;
  let client: S3Client;
  let runtime: SageMakerAsyncRuntime;
  let sagemaker: SageMakerRuntimeClient;
  /** What the container answers in the current test. */
  let respond: Container;
  /** The request bodies the container received, in order. */
  const received: unknown[] = [];

  beforeAll(async () => {
    ({ s3, client, runtime, sagemaker } = await startAsyncInference(async (request) => {
      received.push(JSON.parse(new TextDecoder().decode(request.body)));
      return respond(request);
    }));
  });

  afterAll(async () => {
    await runtime?.close();
    await s3?.close();
  });

  beforeEach(() => {
    respond = async () => json(200, ANSWER);
    runtime.warm();
  });

  const endpoint = (options: { name?: string; timeoutMs?: number } = {}) =>
    new SageMakerAsyncEndpoint(sagemaker, client, options.name ?? ENDPOINT_NAME, {
      bucket: REQUEST_BUCKET,
      prefix: "async/",
      timeoutMs: options.timeoutMs ?? 120_000,
      firstPollMs: 10,
      maxPollMs: 50,
    });

  it("writes the request to S3, queues it, returns the container's answer and cleans up after itself", async () => {
    // Act
    const answer = await endpoint().invoke(TILE);

    // Assess
    expect(answer).toEqual(ANSWER);
    expect(received.at(-1)).toEqual(JSON.parse(invocationBody(TILE)));
    expect(runtime.calls.at(-1)).toEqual({
      endpointName: ENDPOINT_NAME,
      inferenceId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      inputLocation: expect.stringMatching(/^s3:\/\/cellseg-async\/async\/requests\/[0-9a-f-]{36}\.json$/),
      contentType: "application/json",
      accept: "application/json",
      // Not queued nor running longer than the caller waits.
      requestTtlSeconds: 120,
      invocationTimeoutSeconds: 120,
    });
    expect(await leftovers(client)).toEqual([]);
  });

  it("waits for a cold endpoint that starts an instance before the deadline", async () => {
    // Prepare
    runtime.cold();
    setTimeout(() => runtime.warm(), 200);

    // Act
    const answer = await endpoint().invoke(TILE);

    // Assess
    expect(answer).toEqual(ANSWER);
    expect(await leftovers(client)).toEqual([]);
  });

  it.each([
    {
      failure: "the container's refusal",
      answer: json(400, { error: { code: "invalid_image", message: "not a PNG, TIFF or JPEG" } }),
      expected: {
        type: EndpointRejectedError,
        status: 400,
        code: "invalid_image",
        retryable: false,
        message: /answered 400 invalid_image: not a PNG/,
      },
    },
    {
      failure: "the container's overload",
      answer: json(503, { error: { code: "queue_full", message: "the inference queue is full" } }),
      expected: { type: EndpointUnavailableError, status: 503, retryable: true, message: /answered 503 queue_full/ },
    },
    {
      failure: "an error body that is not the container's",
      answer: { status: 502, body: "<html>Bad Gateway</html>" },
      expected: {
        type: EndpointUnavailableError,
        status: undefined,
        retryable: true,
        message: /async endpoint failed \(s3:\/\/cellseg-async-results\/failures\/.*-error\.out\): <html>Bad Gateway/,
      },
    },
  ])("turns a failure object holding $failure into $expected.type.name", async ({ answer, expected }) => {
    // Prepare
    respond = async () => answer;

    // Act
    const error = await endpoint()
      .invoke(TILE)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(expected.type);
    expect(error).toMatchObject({ status: expected.status, ...("code" in expected ? { code: expected.code } : {}) });
    expect((error as Error).message).toMatch(expected.message);
    expect(isRetryable(error)).toBe(expected.retryable);
    expect(await leftovers(client)).toEqual([]);
  });

  it("gives up at the deadline with a retryable EndpointUnavailableError while the endpoint stays cold", async () => {
    // Prepare
    runtime.cold();

    // Act
    const error = await endpoint({ timeoutMs: 1_000 })
      .invoke(TILE)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(EndpointUnavailableError);
    expect((error as Error).message).toMatch(
      /did not answer within 1000 ms: it may still be starting an instance after scaling to zero/,
    );
    expect(runtime.calls.at(-1)).toMatchObject({ requestTtlSeconds: 60, invocationTimeoutSeconds: 1 });
    expect(await leftovers(client)).toEqual([]);
  });

  it("does not wait out the deadline again within the same job: the job's redelivery retries it later", async () => {
    // Prepare
    runtime.cold();
    let retries = 0;

    // Act
    const error = await retrying(endpoint({ timeoutMs: 500 }), { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 5 })
      .invoke(TILE, { onRetry: () => retries++ })
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(EndpointUnavailableError);
    expect(isRetryable(error)).toBe(true);
    expect(retries).toBe(0);
  });

  it("stops waiting when the caller aborts, with the caller's reason", async () => {
    // Prepare
    runtime.cold();
    const controller = new AbortController();
    const reason = new Error("the job was cancelled");
    setTimeout(() => controller.abort(reason), 100);

    // Act
    const outcome = endpoint().invoke(TILE, { signal: controller.signal });

    // Assess
    await expect(outcome).rejects.toBe(reason);
    expect(await leftovers(client)).toEqual([]);
  });

  it("turns throttling of InvokeEndpointAsync into a retryable EndpointUnavailableError", async () => {
    // Prepare
    runtime.inject("ThrottlingException");

    // Act
    const error = await endpoint()
      .invoke(TILE)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(EndpointUnavailableError);
    expect((error as Error).message).toMatch(/ThrottlingException: Rate exceeded/);
    expect(await leftovers(client)).toEqual([]);
  });

  it("answers after retrying throttling and an unavailable service", async () => {
    // Prepare
    runtime.inject("ThrottlingException", "ServiceUnavailable");
    let retries = 0;

    // Act
    const answer = await retrying(endpoint(), { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 }).invoke(TILE, {
      onRetry: () => retries++,
    });

    // Assess
    expect(answer).toEqual(ANSWER);
    expect(retries).toBe(2);
  });

  it("turns a ValidationError (no such endpoint) into an EndpointRejectedError", async () => {
    // Act
    const error = await endpoint({ name: "no-such-endpoint" })
      .invoke(TILE)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(EndpointRejectedError);
    expect(error).toMatchObject({ status: 400, code: "ValidationError" });
    expect(isRetryable(error)).toBe(false);
    expect(await leftovers(client)).toEqual([]);
  });
});

describe("wirePipeline with ENDPOINT_MODE=async (S3_ENDPOINT_URL to s3rver)", () => {
  let s3: LocalS3;
  let client: S3Client;
  let runtime: SageMakerAsyncRuntime;
  const sdkVariables = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] as const;
  const saved = Object.fromEntries(sdkVariables.map((name) => [name, process.env[name]]));

  beforeAll(async () => {
    ({ s3, client, runtime } = await startAsyncInference(async () => json(200, ANSWER)));
    // The SDK's own variables: the function's role would give the credentials, and the runtime's URL is
    // the stand-in's (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
    process.env.AWS_ACCESS_KEY_ID = LOCAL_S3_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = LOCAL_S3_CREDENTIALS.secretAccessKey;
    process.env.AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME = runtime.url;
  });

  afterAll(async () => {
    for (const name of sdkVariables) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
    await runtime?.close();
    await s3?.close();
  });

  it("builds an async endpoint whose requests go through the storage's S3 client", async () => {
    // Prepare
    const config = loadPipelineConfig({
      INPUT_BUCKET: "cellseg-input",
      AWS_REGION: "us-east-1",
      S3_ENDPOINT_URL: s3.url,
      ENDPOINT_MODE: "async",
      ENDPOINT_NAME: ENDPOINT_NAME,
      ASYNC_BUCKET: REQUEST_BUCKET,
      ASYNC_PREFIX: "wired/",
      ASYNC_POLL_MAX_MS: "50",
    });
    const silent = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

    // Act
    const { endpoint } = wirePipeline(config, silent).deps;
    const answer = await endpoint.invoke(TILE);

    // Assess
    expect(endpoint.name).toBe("sagemaker-async:cellseg-async");
    expect(answer).toEqual(ANSWER);
    expect(runtime.calls.at(-1)).toMatchObject({
      inputLocation: expect.stringMatching(/^s3:\/\/cellseg-async\/wired\/requests\//),
      requestTtlSeconds: 600,
    });
    expect(await leftovers(client)).toEqual([]);
  });

  it(
    "brings an image back in a minute, not after the queue's visibility timeout, " +
      "when its call outlived the deadline of a starting endpoint",
    async () => {
      // Prepare: an upload, and an endpoint that stays cold past the deadline.
      const config = loadPipelineConfig({
        INPUT_BUCKET: REQUEST_BUCKET,
        OUTPUT_BUCKET: RESULT_BUCKET,
        AWS_REGION: "us-east-1",
        S3_ENDPOINT_URL: s3.url,
        ENDPOINT_MODE: "async",
        ENDPOINT_NAME: ENDPOINT_NAME,
        ASYNC_BUCKET: REQUEST_BUCKET,
        ASYNC_TIMEOUT_MS: "300",
        ASYNC_POLL_MAX_MS: "50",
      });
      const key = "input/job-cold/a.png";
      const png = await sharp(path.join(TRAIN_IMAGES, "2025512a5956.png"))
        .extract({ left: 0, top: 0, width: 96, height: 64 })
        .png()
        .toBuffer();
      await client.send(new PutObjectCommand({ Bucket: REQUEST_BUCKET, Key: key, Body: png }));
      const head = await client.send(new HeadObjectCommand({ Bucket: REQUEST_BUCKET, Key: key }));
      const record = objectCreatedRecord({
        bucket: REQUEST_BUCKET,
        key,
        etag: head.ETag!.replaceAll('"', ""),
        size: png.length,
      });
      const returned: { receiptHandle: string; seconds: number }[] = [];
      const visibility = {
        returnIn: async (message: DeliveredMessage, seconds: number) =>
          void returned.push({ receiptHandle: message.receiptHandle, seconds }),
      };
      const observability = {
        logger: new Logger({ logLevel: "SILENT" }),
        metrics: new Metrics({ namespace: "test", serviceName: "test" }),
      };
      const segment = createSegmentHandler(wirePipeline(config, observability.logger), observability, {
        visibility,
        delaySeconds: config.endpoint.kind === "sagemaker-async" ? config.endpoint.retryDelaySeconds : -1,
      });
      runtime.cold();

      // Act
      const { batchItemFailures } = await segment(sqsEvent(record), lambdaContext());

      // Assess: the message fails (it comes back), a minute from now.
      expect(batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
      expect(returned).toEqual([{ receiptHandle: record.receiptHandle, seconds: 60 }]);
    },
  );
});

describe("SageMakerAsyncEndpoint with the real model container", () => {
  let server: ModelServer;
  let s3: LocalS3;
  let client: S3Client;
  let runtime: SageMakerAsyncRuntime;
  let endpoint: SageMakerAsyncEndpoint;

  beforeAll(async () => {
    server = await startModelServer();
    let sagemaker: SageMakerRuntimeClient;
    ({ s3, client, runtime, sagemaker } = await startAsyncInference(containerAt(server.url)));
    endpoint = new SageMakerAsyncEndpoint(sagemaker, client, ENDPOINT_NAME, {
      bucket: REQUEST_BUCKET,
      prefix: "async/",
      timeoutMs: 60_000,
      firstPollMs: 50,
      maxPollMs: 500,
    });
  });

  afterAll(async () => {
    await runtime?.close();
    await s3?.close();
    await server?.stop();
  });

  it("segments a tile through S3 and the queue", async () => {
    // Prepare
    const png = await sharp(path.join(TRAIN_IMAGES, "2025512a5956.png"))
      .extract({ left: 100, top: 100, width: 200, height: 160 })
      .png()
      .toBuffer();

    // Act
    const answer = await endpoint.invoke({ image: png, tileOrigin: { x: 704, y: 520 } });

    // Assess
    expect(answer).toMatchObject({ width: 200, height: 160, tileOrigin: { x: 704, y: 520 }, profile: "fast" });
    expect(await leftovers(client)).toEqual([]);
  });

  it("turns the container's refusal of a non-image into an EndpointRejectedError with its code", async () => {
    // Act
    const error = await endpoint
      .invoke({ image: new TextEncoder().encode("not an image"), tileOrigin: { x: 0, y: 0 } })
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(EndpointRejectedError);
    expect(error).toMatchObject({ status: 400, code: "invalid_image" });
  });
});
