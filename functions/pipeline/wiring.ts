/**
 * The one place where the pipeline's implementations are chosen from the configuration: S3 or a local
 * directory for storage, SageMaker (real-time or asynchronous) or HTTP for the endpoint. Everything
 * downstream sees only the interfaces.
 */
import path from "node:path";
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { SageMakerRuntimeClient } from "@aws-sdk/client-sagemaker-runtime";
import { traced } from "../tracing";
import type { PipelineConfig } from "./config";
import { limited, retrying, type SegmentationEndpoint } from "./endpoint/endpoint";
import { HttpEndpoint } from "./endpoint/http-endpoint";
import { LocalStorage } from "./storage/local-storage";
import type { Logger } from "../../plumbing/logger";
import type { PipelineDeps, PipelineSettings } from "./types";
import { S3Storage } from "./storage/s3-storage";
import { SageMakerAsyncEndpoint } from "./endpoint/sagemaker-async-endpoint";
import { SageMakerEndpoint } from "./endpoint/sagemaker-endpoint";
import type { Storage } from "./storage/storage";

/** What the segment handler needs: the dependencies and the settings of processObject. */
export interface Pipeline {
  readonly deps: PipelineDeps;
  readonly settings: PipelineSettings;
}

/**
 * @example
 * ```ts
 * const pipeline = wirePipeline(loadPipelineConfig(process.env), logger);
 * await processObject(event, pipeline.deps, pipeline.settings);
 * ```
 */
export function wirePipeline(config: PipelineConfig, logger: Logger): Pipeline {
  const connections = connect(config);
  return {
    deps: {
      inputBucket: config.inputBucket,
      input: connections.input,
      output: connections.output,
      endpoint: connections.endpoint(),
      logger,
    },
    settings: config.settings,
  };
}

/** The storage and the endpoint a configuration names: what the segment function and the API share. */
export interface Connections {
  /** The S3 client behind S3 storage and the async endpoint's requests. */
  readonly s3: S3Client;
  readonly input: Storage;
  readonly output: Storage;
  /** The endpoint, with the configuration's retries and deadline unless `overrides` says otherwise. */
  endpoint(overrides?: Partial<Pick<PipelineConfig, "retry" | "endpointTimeoutMs">>): SegmentationEndpoint;
}

/**
 * @example
 * ```ts
 * const { input, output, endpoint } = connect(loadPipelineConfig(process.env));
 * const quick = endpoint({ endpointTimeoutMs: 25_000 });
 * ```
 */
export function connect(config: PipelineConfig): Connections {
  // One client for the buckets and the async endpoint's requests; it connects on its first request only.
  const s3 = s3Client(config);
  const { storage } = config;
  const openBucket = (bucket: string): Storage =>
    storage.kind === "local" ? new LocalStorage(path.join(storage.directory, bucket)) : new S3Storage(s3, bucket);
  return {
    s3,
    input: openBucket(config.inputBucket),
    output: openBucket(config.outputBucket),
    endpoint: (overrides = {}) => wireEndpoint({ ...config, ...overrides }, s3),
  };
}

/**
 * The S3 client of a configuration: AWS's, or the S3-compatible server's that `S3_ENDPOINT_URL` names.
 *
 * @example
 * ```ts
 * // Presigned URLs must not carry the SDK's default checksum of an empty body.
 * const presigner = s3Client(config, { requestChecksumCalculation: "WHEN_REQUIRED" });
 * ```
 */
export function s3Client(config: PipelineConfig, overrides: S3ClientConfig = {}): S3Client {
  const endpointUrl = config.storage.kind === "s3" ? config.storage.endpointUrl : undefined;
  const client = new S3Client({
    ...(config.region || endpointUrl ? { region: config.region ?? "us-east-1" } : {}),
    ...(endpointUrl
      ? {
          endpoint: endpointUrl,
          // S3-compatible servers serve buckets by path, not by host name.
          forcePathStyle: true,
          // Their checksum support lags S3's: with the SDK's default (checksums on every request) s3rver
          // stores the aws-chunked framing as the object's content.
          requestChecksumCalculation: "WHEN_REQUIRED",
          responseChecksumValidation: "WHEN_REQUIRED",
        }
      : {}),
    ...overrides,
  });
  return traced(client);
}

/** The endpoint, with retries inside and the instance-wide concurrency bound outside. */
function wireEndpoint(config: PipelineConfig, s3: S3Client): SegmentationEndpoint {
  return limited(retrying(baseEndpoint(config, s3), config.retry), config.maxConcurrentTiles);
}

function baseEndpoint(config: PipelineConfig, s3: S3Client): SegmentationEndpoint {
  const { endpoint, endpointTimeoutMs: timeoutMs } = config;
  // One attempt per call: the pipeline's retries (wireEndpoint) replace the SDK's.
  const runtime = () =>
    traced(new SageMakerRuntimeClient({ maxAttempts: 1, ...(config.region ? { region: config.region } : {}) }));
  switch (endpoint.kind) {
    case "http":
      return new HttpEndpoint(endpoint.url, { timeoutMs });
    case "sagemaker":
      return new SageMakerEndpoint(runtime(), endpoint.name, { timeoutMs });
    case "sagemaker-async":
      return new SageMakerAsyncEndpoint(runtime(), s3, endpoint.name, {
        bucket: endpoint.bucket,
        prefix: endpoint.prefix,
        timeoutMs,
        maxPollMs: endpoint.maxPollMs,
      });
  }
}
