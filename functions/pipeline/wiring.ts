/**
 * The one place where the pipeline's implementations are chosen from the configuration: S3 or a local
 * directory for storage, SageMaker or HTTP for the endpoint. Everything downstream sees only the
 * interfaces.
 */
import path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { SageMakerRuntimeClient } from "@aws-sdk/client-sagemaker-runtime";
import type { PipelineConfig } from "./config";
import { limited, retrying, type SegmentationEndpoint } from "./endpoint";
import { HttpEndpoint } from "./http-endpoint";
import { LocalStorage } from "./local-storage";
import type { PipelineDeps, PipelineLogger, PipelineSettings } from "./process-image";
import { S3Storage } from "./s3-storage";
import { SageMakerEndpoint } from "./sagemaker-endpoint";
import type { Storage } from "./storage";

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
export function wirePipeline(config: PipelineConfig, logger: PipelineLogger): Pipeline {
  const openBucket = bucketOpener(config);
  return {
    deps: {
      inputBucket: config.inputBucket,
      input: openBucket(config.inputBucket),
      output: openBucket(config.outputBucket),
      endpoint: wireEndpoint(config),
      logger,
    },
    settings: config.settings,
  };
}

function bucketOpener(config: PipelineConfig): (bucket: string) => Storage {
  const { storage } = config;
  if (storage.kind === "local") return (bucket) => new LocalStorage(path.join(storage.directory, bucket));
  const client = new S3Client({
    ...(config.region || storage.endpointUrl ? { region: config.region ?? "us-east-1" } : {}),
    ...(storage.endpointUrl
      ? {
          endpoint: storage.endpointUrl,
          // S3-compatible servers serve buckets by path, not by host name.
          forcePathStyle: true,
          // Their checksum support lags S3's: with the SDK's default (checksums on every request) s3rver
          // stores the aws-chunked framing as the object's content.
          requestChecksumCalculation: "WHEN_REQUIRED",
          responseChecksumValidation: "WHEN_REQUIRED",
        }
      : {}),
  });
  return (bucket) => new S3Storage(client, bucket);
}

/** The endpoint, with retries inside and the instance-wide concurrency bound outside. */
function wireEndpoint(config: PipelineConfig): SegmentationEndpoint {
  const { endpoint } = config;
  const base =
    endpoint.kind === "http"
      ? new HttpEndpoint(endpoint.url, { timeoutMs: config.endpointTimeoutMs })
      : new SageMakerEndpoint(
          // One attempt per call: the pipeline's retries (below) replace the SDK's.
          new SageMakerRuntimeClient({ maxAttempts: 1, ...(config.region ? { region: config.region } : {}) }),
          endpoint.name,
          { timeoutMs: config.endpointTimeoutMs },
        );
  return limited(retrying(base, config.retry), config.maxConcurrentTiles);
}
