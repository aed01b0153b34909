/**
 * The one place where the API's implementations are chosen from its configuration: the pipeline's
 * storage and endpoint (functions/pipeline/wiring.ts), and links to hand out: S3 presigned URLs, or
 * the local stack's own signed upload links when storage is a directory no client can reach.
 */
import type { LocalUploadLinks } from "../jobs/local-upload-links";
import type { ObjectLinks } from "../jobs/object-links";
import { LocalStorage } from "../pipeline/storage/local-storage";
import { S3ObjectLinks } from "../jobs/s3-object-links";
import { ConfigError } from "../../plumbing/errors";
import type { Logger } from "../../plumbing/logger";
import { connect, s3Client } from "../pipeline/wiring";
import type { ApiDeps } from "./app";
import type { ApiConfig } from "./config";

export interface LocalApiOptions {
  /** Upload links to the local API itself, for directory storage. */
  readonly uploadLinks?: LocalUploadLinks;
  /** Told of each upload stored through those links (the local stack queues it). */
  readonly onUploadStored?: (key: string) => Promise<void>;
}

/**
 * @throws ConfigError for directory storage without `uploadLinks` (only the local stack can serve them).
 * @example
 * ```ts
 * const app = createApi(wireApi(loadApiConfig(process.env), logger));
 * ```
 */
export function wireApi(config: ApiConfig, logger: Logger, local: LocalApiOptions = {}): ApiDeps {
  const { pipeline } = config;
  const connections = connect(pipeline);
  let links: ObjectLinks;
  let uploads: ApiDeps["uploads"];
  if (pipeline.storage.kind === "s3") {
    // Presigned uploads must not carry the SDK's default checksum (of an empty body): every upload would fail.
    const presigner = s3Client(pipeline, {
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    links = new S3ObjectLinks(presigner, { input: pipeline.inputBucket, output: pipeline.outputBucket });
  } else if (local.uploadLinks !== undefined && connections.input instanceof LocalStorage) {
    links = local.uploadLinks;
    uploads = {
      links: local.uploadLinks,
      input: connections.input,
      maxBytes: config.maxUploadBytes,
      ...(local.onUploadStored ? { onStored: local.onUploadStored } : {}),
    };
  } else {
    throw new ConfigError("STORAGE_BACKEND=local needs the local stack (npm start), which serves the upload links");
  }
  const { tiling, maxConcurrentTiles, thresholds } = pipeline.settings;
  return {
    jobs: {
      input: connections.input,
      output: connections.output,
      links,
      settings: {
        maxFilesPerJob: config.maxFilesPerJob,
        uploadUrlTtlSeconds: config.uploadUrlTtlSeconds,
        resultUrlTtlSeconds: config.resultUrlTtlSeconds,
        pricing: config.pricing,
      },
    },
    segment: {
      // One attempt within the client's patience: a busy endpoint is a 503 with Retry-After, not a wait.
      endpoint: connections.endpoint({
        endpointTimeoutMs: config.sync.timeoutMs,
        retry: { ...pipeline.retry, maxAttempts: 1 },
      }),
      options: { tiling, maxConcurrentTiles, maxPixels: config.sync.maxPixels, ...(thresholds ? { thresholds } : {}) },
      maxBytes: config.sync.maxBytes,
    },
    ...(uploads ? { uploads } : {}),
    ...(config.bearerToken ? { bearerToken: config.bearerToken } : {}),
    corsAllowOrigins: config.corsAllowOrigins,
    logger,
  };
}
