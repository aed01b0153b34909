/**
 * The model server's entry point (`npm run model-server`, or `serve` in the container): read the
 * configuration, listen at once (so /ping answers 503 while loading), load and verify the models in the
 * inference workers and warm them up, then answer /ping with 200. SIGTERM/SIGINT stop new requests, let
 * accepted ones finish, release the sessions and exit 0. Every log line is one JSON object on stdout.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { defaultModelDir } from "../../../inference/model-store";
import { createApp, ServingState } from "./app";
import { loadConfig, type ServerConfig } from "./config";
import { InferencePool } from "./inference-pool";
import { InferenceQueue } from "./inference-queue";
import { servedExecutionProvider } from "./invocation";
import { createLogger, errorFields } from "./logger";

const logger = createLogger({ base: { service: "cellseg-model-server" } });

/** How long the server waits for idle keep-alive connections to close after the last request. */
const CONNECTION_CLOSE_GRACE_MS = 2_000;

async function main(): Promise<void> {
  let config: ServerConfig;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    fail("invalid configuration", error);
  }
  const modelDir = config.modelDir ?? defaultModelDir();
  const state = new ServingState();
  const queue = new InferenceQueue({
    maxConcurrency: config.maxConcurrency,
    maxQueue: config.maxQueue,
    timeoutMs: config.requestTimeoutMs,
  });
  const { maxBodyBytes, maxPixels, maxConcurrency, maxQueue, requestTimeoutMs } = config;
  const limits = { maxBodyBytes, maxPixels, maxConcurrency, maxQueue, requestTimeoutMs };
  const app = createApp({ state, queue, limits, logger, defaultProfile: config.defaultProfile });

  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host });
  server.on("error", (error) => fail("cannot listen", error, { port: config.port }));
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  logger.info("listening", { port, modelDir, config });

  let pool: InferencePool | undefined;
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn("second signal: exiting without waiting", { signal });
      process.exit(1);
    }
    stopping = true;
    state.startDraining();
    logger.info("draining", { signal, active: queue.active, pending: queue.pending });
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Accepted requests finish or time out within the request timeout; an inference that timed out still
    // holds its worker, so the wait covers it too (bounded once more in case it hangs).
    const drained = await within(queue.onIdle(), config.requestTimeoutMs + 5_000);
    if (!(await within(closed, CONNECTION_CLOSE_GRACE_MS)) && "closeAllConnections" in server)
      server.closeAllConnections();
    if (drained) await pool?.close();
    logger.info("stopped", { signal, drained });
    process.exit(drained ? 0 : 1);
  };
  process.on("SIGTERM", (signal) => void stop(signal));
  process.on("SIGINT", (signal) => void stop(signal));

  const started = performance.now();
  const { pool: loaded, warmUpMs } = await InferencePool.start({
    size: config.maxConcurrency,
    load: {
      modelDir,
      profiles: config.profiles,
      executionProvider: config.executionProvider,
      threads: config.threads,
      float32: config.float32,
    },
    // A worker that died took its sessions with it: exit, and let SageMaker start a fresh container.
    onFatal: (error) => fail("inference worker died", error),
  }).catch((error: unknown) => fail("cannot load models", error, { modelDir }));
  pool = loaded;
  logger.info("models loaded", {
    modelDir,
    modelVersion: loaded.manifest.version,
    manifestSha256: loaded.manifestSha256,
    members: loaded.members,
    executionProvider: servedExecutionProvider(loaded),
    warmUpMs,
    ms: Math.round(performance.now() - started),
  });
  if (stopping) return;
  state.markReady(loaded);
  logger.info("ready", { port, executionProvider: servedExecutionProvider(loaded), profiles: loaded.profiles });
}

/** Whether `promise` settled within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Logs one clear line and exits 1: a server that cannot serve must not linger half-started. */
function fail(msg: string, error: unknown, fields: Record<string, unknown> = {}): never {
  logger.error(msg, {
    ...fields,
    error: error instanceof Error ? error.message : String(error),
    details: errorFields(error),
  });
  process.exit(1);
}

// Every request's errors are handled in the app; a stray rejection elsewhere is a bug to log, not a reason
// to drop the requests in flight.
process.on("unhandledRejection", (reason) => logger.error("unhandled rejection", { error: errorFields(reason) }));
main().catch((error: unknown) => fail("unexpected failure", error));
