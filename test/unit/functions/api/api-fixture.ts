/**
 * The API app as the local stack wires it, on a temporary directory: a real JobsContext on LocalStorage,
 * real LocalUploadLinks, and a segmentation endpoint that fails the test if any route reaches it.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { DEFAULT_TILING } from "../../../../core/tiling/tiles";
import { createApi, type ApiDeps } from "../../../../functions/api/app";
import type { JobsContext } from "../../../../functions/jobs/context";
import { LocalUploadLinks } from "../../../../functions/jobs/local-upload-links";
import type { ObjectLinks } from "../../../../functions/jobs/object-links";
import type { SegmentationEndpoint } from "../../../../functions/pipeline/endpoint/endpoint";
import type { Logger, LogFields } from "../../../../plumbing/logger";
import { jobsContext, tempBucket, type TempBucket } from "../jobs/status-builders";

export const API_BASE = "http://localhost";

/** An endpoint that must not be called: it counts the calls and fails them. */
export class UntouchableEndpoint implements SegmentationEndpoint {
  readonly name = "untouchable";
  calls = 0;

  async invoke(): Promise<never> {
    this.calls++;
    throw new Error("the route must not call the segmentation endpoint");
  }
}

export interface LogEntry {
  readonly level: "debug" | "info" | "warn" | "error";
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

export function memoryLogger(): Logger & { readonly entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry["level"]) =>
    (message: string, ...fields: LogFields[]) =>
      void entries.push({ level, message, fields: Object.assign({}, ...fields) as LogFields });
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

export interface TestApi {
  readonly app: OpenAPIHono;
  readonly bucket: TempBucket;
  readonly jobs: JobsContext;
  readonly uploadLinks: LocalUploadLinks;
  readonly endpoint: UntouchableEndpoint;
  readonly logger: ReturnType<typeof memoryLogger>;
  /** The path (and query) of an absolute URL the API handed out. */
  pathOf(url: string): string;
  dispose(): Promise<void>;
}

export interface TestApiOptions {
  readonly bearerToken?: string;
  readonly corsAllowOrigins?: readonly string[];
  /** Links other than the local upload links (e.g. ones with download URLs). */
  readonly links?: ObjectLinks;
  /** Leave out the upload route (the AWS wiring). */
  readonly withoutUploads?: boolean;
  readonly maxUploadBytes?: number;
  readonly segmentMaxBytes?: number;
  readonly segmentMaxPixels?: number;
  readonly maxFilesPerJob?: number;
  /** The upload links' signing secret. @default 32 bytes of 1 */
  readonly uploadSecret?: Uint8Array;
  /** Told of each stored upload, as the local stack is. */
  readonly onUploadStored?: (key: string) => Promise<void>;
}

export async function testApi(options: TestApiOptions = {}): Promise<TestApi> {
  const bucket = await tempBucket();
  const uploadLinks = new LocalUploadLinks(API_BASE, options.uploadSecret ?? new Uint8Array(32).fill(1));
  const base = jobsContext(bucket.storage);
  const jobs: JobsContext = {
    ...base,
    links: options.links ?? uploadLinks,
    settings: { ...base.settings, ...(options.maxFilesPerJob ? { maxFilesPerJob: options.maxFilesPerJob } : {}) },
  };
  const endpoint = new UntouchableEndpoint();
  const logger = memoryLogger();
  const deps: ApiDeps = {
    jobs,
    segment: {
      endpoint,
      options: { tiling: DEFAULT_TILING, maxConcurrentTiles: 1, maxPixels: options.segmentMaxPixels ?? 4_000_000 },
      maxBytes: options.segmentMaxBytes ?? 64 * 1024,
    },
    ...(options.withoutUploads
      ? {}
      : {
          uploads: {
            links: uploadLinks,
            input: bucket.storage,
            maxBytes: options.maxUploadBytes ?? 1024,
            ...(options.onUploadStored ? { onStored: options.onUploadStored } : {}),
          },
        }),
    ...(options.bearerToken ? { bearerToken: options.bearerToken } : {}),
    ...(options.corsAllowOrigins ? { corsAllowOrigins: options.corsAllowOrigins } : {}),
    logger,
  };
  return {
    app: createApi(deps),
    bucket,
    jobs,
    uploadLinks,
    endpoint,
    logger,
    pathOf: (url) => {
      const parsed = new URL(url);
      return parsed.pathname + parsed.search;
    },
    dispose: () => bucket.dispose(),
  };
}

/** A JSON request init. */
export function json(body: unknown, init: RequestInit = {}): RequestInit {
  return {
    method: "POST",
    ...init,
    headers: { "content-type": "application/json", ...(init.headers as Record<string, string> | undefined) },
    body: JSON.stringify(body),
  };
}

/** The body of an API error answer. */
export async function errorOf(response: Response): Promise<{ code: string; message: string; details?: unknown }> {
  const body = (await response.json()) as { error: { code: string; message: string; details?: unknown } };
  return body.error;
}
