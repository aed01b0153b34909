/**
 * The whole service on one machine, with no AWS account: the API (the same hono app as in Lambda), the
 * worker (the same segment handler, fed by a local queue with SQS's semantics), the model server (the
 * same container code, as a child process) and storage (a directory, or s3rver speaking S3). An image
 * that lands in the bucket's `input/<jobId>/`, by the API's upload link or dropped into the folder,
 * triggers the pipeline exactly as an S3 upload does in AWS.
 */
import { randomUUID } from "node:crypto";
import { appendFileSync, mkdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { serve } from "@hono/node-server";
import type { Environment } from "../../plumbing/environment";
import { KEY_PREFIXES } from "../../core/schemas/object-keys";
import { createApi } from "../api/app";
import { loadApiConfig } from "../api/config";
import { wireApi } from "../api/wiring";
import { LocalUploadLinks } from "../jobs/local-upload-links";
import { loadPipelineConfig } from "../pipeline/config";
import { errorFields } from "../../plumbing/error-fields";
import type { Storage } from "../pipeline/storage/storage";
import { wirePipeline } from "../pipeline/wiring";
import { createSegmentHandler } from "../segment/handler";
import type { LocalStackConfig } from "./config";
import { watchInputFolder, type InputWatcher } from "./input-watcher";
import { localLambdaContext } from "./lambda-context";
import { consoleSite } from "./console-site";
import { LocalQueue } from "./local-queue";
import { startModelServerProcess, type ModelServerProcess } from "./model-server-process";
import { startLocalS3 } from "./s3-server";
import { s3NotificationBody, type CreatedObject } from "./sqs-messages";

/** How long stopping waits for images being segmented (a 25-tile image takes about a minute on a CPU). */
const STOP_WAIT_MS = 180_000;

export interface LocalStack {
  /** The API's base URL, which also serves the web console (at `/`). */
  readonly apiUrl: string;
  readonly modelServerUrl: string;
  /** The model server's process, when the stack started it. */
  readonly modelServerPid?: number;
  /** Where to put images: a folder, or an S3 endpoint and bucket. */
  readonly storage:
    | { readonly kind: "directory"; readonly inputDirectory: string; readonly outputDirectory: string }
    | { readonly kind: "s3rver"; readonly url: string; readonly bucket: string };
  readonly modelServerLog?: string;
  /** Images waiting or being segmented. */
  pending(): number;
  /** Images being segmented right now (the rest of `pending` waits, and is picked up at the next start). */
  segmenting(): number;
  /** Resolves when no image is waiting or being segmented. */
  idle(): Promise<void>;
  /**
   * Stops taking new work, lets images being segmented finish (bounded), then stops the model server
   * and storage.
   *
   * @returns true when everything finished cleanly.
   */
  stop(): Promise<boolean>;
}

export interface LocalStackHooks {
  /**
   * A part the stack cannot work without (the model server it started) died. The stack has stopped
   * itself by the time this is called.
   */
  readonly onFatal?: (error: Error) => void;
}

/**
 * @throws ConfigError for a bad environment; Error when the model server or a port cannot start.
 * @example
 * ```ts
 * const stack = await startLocalStack(loadLocalStackConfig(process.env), process.env);
 * console.log(`API on ${stack.apiUrl}`);
 * await stack.stop();
 * ```
 */
export async function startLocalStack(
  config: LocalStackConfig,
  env: Environment,
  hooks: LocalStackHooks = {},
): Promise<LocalStack> {
  mkdirSync(config.dataDirectory, { recursive: true });
  // One logger per part, as in AWS: the worker's carries its (local) Lambda context, the API's does not.
  const logger = new Logger({ serviceName: "cellseg-local" });
  const apiLogger = new Logger({ serviceName: "cellseg-api" });
  const workerLogger = new Logger({ serviceName: "cellseg-segment" });
  const started: { stop(): Promise<unknown> }[] = [];
  try {
    const modelServer = await startModelServer(config, env);
    if (modelServer.process) started.push(modelServer.process);

    // The API listens first: its address is part of the upload links it hands out, and the origin of the
    // console whose pages may use the local S3 server's presigned links.
    let site: { fetch(request: Request): Response | Promise<Response> } | undefined;
    const server = serve({ fetch: (request) => site!.fetch(request), port: config.port, hostname: config.host });
    await new Promise<void>((resolve, reject) => {
      server.once("listening", resolve);
      server.once("error", reject);
    });
    started.push({ stop: () => new Promise<void>((resolve) => server.close(() => resolve())) });
    const apiUrl = config.publicUrl ?? `http://${urlHost(config.host)}:${(server.address() as AddressInfo).port}`;
    const s3 =
      config.storage.kind === "s3rver"
        ? await startLocalS3([config.bucket], {
            port: config.storage.port,
            directory: path.join(config.dataDirectory, "s3rver"),
            corsOrigins: consoleOrigins(apiUrl),
          })
        : undefined;
    if (s3) started.push({ stop: () => s3.close() });

    const serviceEnv: Environment = {
      ...env,
      INPUT_BUCKET: config.bucket,
      OUTPUT_BUCKET: config.bucket,
      STORAGE_BACKEND: s3 ? "s3" : "local",
      LOCAL_STORAGE_DIR: config.dataDirectory,
      S3_ENDPOINT_URL: s3?.url,
      MODEL_SERVER_URL: modelServer.url,
      ENDPOINT_NAME: undefined,
      ENDPOINT_MODE: undefined,
    };
    const pipelineConfig = loadPipelineConfig(serviceEnv);
    const apiConfig = loadApiConfig(serviceEnv);
    const uploadLinks = s3 ? undefined : new LocalUploadLinks(apiUrl);
    // Set once the queue exists; an upload cannot arrive before the links that allow it are handed out.
    let onUploadStored: (key: string) => Promise<void> = async () => {};
    const app = createApi(
      wireApi(apiConfig, apiLogger, uploadLinks ? { uploadLinks, onUploadStored: (key) => onUploadStored(key) } : {}),
    );
    site = await consoleSite((request) => app.fetch(request), { connectOrigins: s3 ? [s3.url] : [] });

    const wired = wirePipeline(pipelineConfig, workerLogger);
    // This process is the data directory's only worker: a claim left by an earlier run of the service (killed
    // mid-image) is taken over at the next start instead of blocking the image until it expires.
    const pipeline = { ...wired, settings: { ...wired.settings, soleWorker: randomUUID() } };
    const segment = createSegmentHandler(pipeline, {
      logger: workerLogger,
      // Metrics go to CloudWatch in AWS; locally they print EMF lines unless
      // POWERTOOLS_METRICS_DISABLED (npm start sets it).
      metrics: new Metrics({ namespace: "cellseg", serviceName: "cellseg-segment" }),
    });
    const deadLetters = path.join(config.dataDirectory, "dead-letter");
    const queue = new LocalQueue({
      deliver: (event) => segment(event, localLambdaContext("cellseg-segment")),
      concurrency: config.concurrentImages,
      maxReceives: config.maxReceives,
      redeliveryDelayMs: (receiveCount) => config.redeliveryDelayMs * 2 ** (receiveCount - 1),
      onDeadLetter: async (message) => {
        mkdirSync(deadLetters, { recursive: true });
        await writeFile(path.join(deadLetters, `${message.messageId}.json`), JSON.stringify(message, null, 2));
      },
      logger: workerLogger,
    });
    started.push({ stop: () => queue.close(STOP_WAIT_MS) });

    const { input } = pipeline.deps;
    // An upload through the API is notified twice, by its route and by the folder watcher: one event per version.
    const notified = new Set<string>();
    const notify = (object: CreatedObject) => {
      const version = `${object.key}\n${object.versionId ?? object.etag ?? ""}`;
      if (notified.has(version)) return;
      notified.add(version);
      // The two notifications of one upload come seconds apart: the recent ones are enough to remember.
      if (notified.size > NOTIFIED_REMEMBERED) notified.delete(notified.values().next().value!);
      queue.send(s3NotificationBody(object));
    };
    onUploadStored = (key) => notifyLocalObject(input, config.bucket, key, notify, logger);
    let watcher: InputWatcher | undefined;
    let unsubscribe: (() => void) | undefined;
    if (s3) {
      unsubscribe = s3.onObjectCreated((record) => {
        const { key, eTag, size, versionId } = record.s3.object;
        // As the deployed bucket notification: uploads only, not the results the pipeline writes.
        if (!key.startsWith(KEY_PREFIXES.input)) return;
        notify({
          bucket: config.bucket,
          key,
          ...(eTag ? { etag: eTag } : {}),
          ...(size !== undefined ? { size } : {}),
          ...(versionId ? { versionId } : {}),
        });
      });
      // What was uploaded while the stack was down: S3 would have notified it; s3rver did not.
      for (const object of await input.list(KEY_PREFIXES.input))
        notify({ bucket: config.bucket, key: object.key, etag: object.etag, size: object.size });
    } else {
      watcher = watchInputFolder({
        bucketDirectory: path.join(config.dataDirectory, config.bucket),
        onObject: (key) => void notifyLocalObject(input, config.bucket, key, notify, logger),
        logger,
      });
      await watcher.ready;
    }

    // Stopped in reverse order of starting: first no new work, then the work in flight, then the rest.
    const stopTriggers = async () => {
      unsubscribe?.();
      await watcher?.close();
    };
    let stopping: Promise<boolean> | undefined;
    const stop = () => (stopping ??= stopAll([{ stop: stopTriggers }, ...started.reverse()], logger));
    // Without its endpoint every image would fail and be dead-lettered: stop, and say why.
    modelServer.process?.child.once("exit", (code, signal) => {
      if (stopping !== undefined) return;
      const error = new Error(
        `the model server exited unexpectedly (${signal ?? `code ${code}`}); see ${modelServer.log}`,
      );
      logger.error("stopping: the model server died", { error: errorFields(error) });
      void stop().then(() => hooks.onFatal?.(error));
    });
    return {
      apiUrl,
      modelServerUrl: modelServer.url,
      ...(modelServer.process?.child.pid !== undefined ? { modelServerPid: modelServer.process.child.pid } : {}),
      storage: s3
        ? { kind: "s3rver", url: s3.url, bucket: config.bucket }
        : {
            kind: "directory",
            inputDirectory: path.join(config.dataDirectory, config.bucket, KEY_PREFIXES.input),
            outputDirectory: path.join(config.dataDirectory, config.bucket, KEY_PREFIXES.output),
          },
      ...(modelServer.log ? { modelServerLog: modelServer.log } : {}),
      pending: () => queue.size,
      segmenting: () => queue.delivering,
      idle: () => queue.onIdle(),
      stop,
    };
  } catch (error) {
    await stopAll(started.reverse(), logger);
    throw error;
  }
}

/**
 * The model server the stack talks to: one already running, or a child it starts (and stops) with the
 * stack's environment (its CELLSEG_* settings: profiles, threads, queue).
 */
async function startModelServer(
  config: LocalStackConfig,
  env: Environment,
): Promise<{ url: string; process?: ModelServerProcess; log?: string }> {
  if (config.modelServer.kind === "external") return { url: config.modelServer.url };
  const log = path.join(config.dataDirectory, "model-server.log");
  const process = await startModelServerProcess({
    env: { ...env, PORT: String(config.modelServer.port) },
    onLog: (line) => appendFileSync(log, `${line}\n`),
    // Ctrl-C reaches the whole process group; the server is stopped after the images in flight instead.
    detached: true,
  });
  return { url: process.url, process, log };
}

/** A file in the input folder, notified as S3 would: with its size and ETag. */
async function notifyLocalObject(
  input: Storage,
  bucket: string,
  key: string,
  notify: (object: CreatedObject) => void,
  logger: Logger,
): Promise<void> {
  try {
    const head = await input.head(key);
    if (head !== undefined) notify({ bucket, key, etag: head.etag, size: head.size });
  } catch (error) {
    logger.error("cannot read a new input file", { key, error: errorFields(error) });
  }
}

async function stopAll(parts: readonly { stop(): Promise<unknown> }[], logger: Logger): Promise<boolean> {
  let clean = true;
  for (const part of parts) {
    try {
      if ((await part.stop()) === false) clean = false;
    } catch (error) {
      clean = false;
      logger.error("stopping a part of the local stack failed", { error: errorFields(error) });
    }
  }
  return clean;
}

/**
 * What a user serving other machines should know: the API has no authentication without API_TOKEN, and its
 * upload links name `localhost` unless PUBLIC_URL says how others reach it.
 */
export function exposureWarnings(config: Pick<LocalStackConfig, "host" | "publicUrl">, env: Environment): string[] {
  if (LOOPBACK_HOSTS.has(config.host)) return [];
  const warnings: string[] = [];
  if (!env.API_TOKEN)
    warnings.push(
      `HOST=${config.host} serves other machines over plain HTTP with no API_TOKEN: anyone who reaches it can use it`,
    );
  if (config.publicUrl === undefined && (config.host === "0.0.0.0" || config.host === "::")) {
    warnings.push(
      "upload links name localhost, which other machines cannot reach: set PUBLIC_URL to this machine's " +
        "address as they see it",
    );
  }
  return warnings;
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1"]);

/** Uploads whose notification is remembered, to drop the folder watcher's second one. */
const NOTIFIED_REMEMBERED = 10_000;

/**
 * The origins the console's page may be opened from: the API's own, and for a loopback address its twin too
 * (a browser sends `http://localhost:3000` as the origin of a page opened at that name, not `127.0.0.1`).
 */
function consoleOrigins(apiUrl: string): string[] {
  const url = new URL(apiUrl);
  const twin = ({ "127.0.0.1": "localhost", localhost: "127.0.0.1" } as Record<string, string>)[url.hostname];
  return twin ? [url.origin, `${url.protocol}//${twin}:${url.port}`] : [url.origin];
}

function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "localhost";
  return host.includes(":") ? `[${host}]` : host;
}
