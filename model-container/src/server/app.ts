/**
 * The model server's HTTP app (SageMaker custom-container contract): `GET /ping`, `GET /info` and
 * `POST /invocations`. It is a plain Hono app, so tests drive it with `app.request()`; main.ts serves it
 * with @hono/node-server.
 */
import { randomUUID } from "node:crypto";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ENDPOINT_ERROR_CODES, type InvocationTimings } from "../../../core/schemas/endpoint";
import type { Profile } from "../../../core/schemas/manifest";
import { NotReadyError, PayloadTooLargeError, ShuttingDownError, toHttpError } from "./errors";
import type { ServedModels } from "./inference-pool";
import type { InferenceQueue } from "./inference-queue";
import {
  RESPONSE_FORMATS,
  checkContentType,
  readInvocationInput,
  requestProfile,
  responseFormat,
  segmentInput,
  servedExecutionProvider,
  toInvocationResponse,
  toSubmissionCsv,
} from "./invocation";
import type { Logger } from "../../../plumbing/logger";
import { errorFields } from "./logger";

/** Where the server is in its life: loading models, serving them, or finishing before exit. */
export type ServingPhase = "loading" | "ready" | "draining";

/**
 * The server's readiness, shared by the app (which answers from it) and main.ts (which moves it on).
 *
 * @example
 * ```ts
 * const state = new ServingState();
 * const app = createApp({ state, ... });     // GET /ping answers 503
 * state.markReady(pool);                    // now 200
 * state.startDraining();                     // 503 again; accepted requests still finish
 * ```
 */
export class ServingState {
  private currentPhase: ServingPhase = "loading";
  private loaded: ServedModels | undefined;

  get phase(): ServingPhase {
    return this.currentPhase;
  }

  /** The models, once loaded (still there while draining). */
  get models(): ServedModels | undefined {
    return this.loaded;
  }

  markReady(models: ServedModels): void {
    this.loaded = models;
    this.currentPhase = "ready";
  }

  startDraining(): void {
    this.currentPhase = "draining";
  }

  /** @throws ShuttingDownError once draining. */
  assertAccepting(): void {
    if (this.currentPhase === "draining") throw new ShuttingDownError();
  }

  /**
   * The models to serve a new request with.
   * @throws NotReadyError while loading; ShuttingDownError while draining.
   */
  requireReady(): ServedModels {
    this.assertAccepting();
    if (this.currentPhase !== "ready" || this.loaded === undefined) throw new NotReadyError();
    return this.loaded;
  }
}

/** The limits the app enforces or reports. */
export interface AppLimits {
  readonly maxBodyBytes: number;
  readonly maxPixels: number;
  readonly maxConcurrency: number;
  readonly maxQueue: number;
  readonly requestTimeoutMs: number;
}

export interface AppDeps {
  readonly state: ServingState;
  readonly queue: InferenceQueue;
  readonly limits: AppLimits;
  readonly logger: Logger;
  /**
   * The profile of requests that name none. @default the manifest's defaultProfile when served, else the first profile
   */
  readonly defaultProfile?: Profile;
}

type Env = {
  Variables: {
    requestId: string;
    requestBytes: number;
    responseBytes: number;
    timings: InvocationTimings;
    failure: { level: "warn" | "error"; code: string; message: string; error?: unknown };
  };
};

/**
 * Builds the app. Every error a route throws is answered through errors.ts; the app never lets one
 * escape, so one bad request cannot take the server down.
 *
 * @example
 * ```ts
 * const app = createApp({ state, queue, limits: config, logger: createLogger() });
 * const response = await app.request("/ping"); // 503 until state.markReady(models)
 * ```
 */
export function createApp(deps: AppDeps): Hono<Env> {
  const { state, queue, limits, logger } = deps;
  const app = new Hono<Env>();

  // One log line per request, with its timings when it ran an inference.
  app.use(async (c, next) => {
    const started = performance.now();
    const requestId = c.req.header("x-request-id") ?? randomUUID();
    c.set("requestId", requestId);
    await next();
    c.header("X-Request-Id", requestId);
    // Tells keep-alive clients to reconnect elsewhere, so that server.close() is not held up by them.
    if (state.phase === "draining") c.header("Connection", "close");
    const failure = c.var.failure;
    // SageMaker pings every few seconds; successful pings are logged only at debug level.
    const level = failure?.level ?? (c.req.path === "/ping" && c.res.status === 200 ? "debug" : "info");
    logger[level]("request", {
      requestId,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: round(performance.now() - started),
      requestBytes: c.var.requestBytes ?? (Number(c.req.header("content-length")) || 0),
      responseBytes: c.var.responseBytes,
      ...(c.var.timings ? { timings: roundAll(c.var.timings) } : {}),
      ...(failure ? { errorCode: failure.code, errorMessage: failure.message } : {}),
      ...(failure?.error ? { error: errorFields(failure.error) } : {}),
      queue: { active: queue.active, pending: queue.pending },
    });
  });

  app.onError((error, c) => {
    const answer = toHttpError(error);
    c.set("failure", {
      level: answer.logLevel,
      code: answer.body.error.code,
      message: answer.body.error.message,
      // The stack only for the server's own failures; a bad image is not worth one.
      ...(answer.logLevel === "error" ? { error } : {}),
    });
    return sendJson(c, answer.body, answer.status, answer.headers);
  });

  app.notFound((c) => {
    const body = {
      error: { code: ENDPOINT_ERROR_CODES.notFound, message: `no route for ${c.req.method} ${c.req.path}` },
    };
    c.set("failure", { level: "warn", code: body.error.code, message: body.error.message });
    return sendJson(c, body, 404);
  });

  app.get("/ping", (c) => {
    const models = state.models;
    if (state.phase !== "ready" || models === undefined) return sendJson(c, { status: state.phase }, 503);
    return sendJson(c, {
      status: "ready",
      executionProvider: servedExecutionProvider(models),
      modelVersion: models.manifest.version,
    });
  });

  app.get("/info", (c) => {
    const models = state.models;
    if (models === undefined) throw new NotReadyError();
    const loaded = new Map(models.members.map((member) => [member.name, member]));
    return sendJson(c, {
      status: state.phase,
      modelVersion: models.manifest.version,
      manifestSha256: models.manifestSha256,
      executionProvider: servedExecutionProvider(models),
      profiles: models.profiles,
      defaultProfile: defaultProfileOf(models),
      members: models.manifest.members
        .filter((member) => loaded.has(member.name))
        .map(({ name, graphs, architecture }) => {
          const { executionProvider, detectorPrecision, masksPrecision } = loaded.get(name)!;
          return { name, graphs, architecture, executionProvider, detectorPrecision, masksPrecision };
        }),
      limits: {
        maxBodyBytes: limits.maxBodyBytes,
        maxPixels: limits.maxPixels,
        maxConcurrency: limits.maxConcurrency,
        maxQueue: limits.maxQueue,
        requestTimeoutMs: limits.requestTimeoutMs,
      },
      queue: { active: queue.active, pending: queue.pending },
    });
  });

  app.post(
    "/invocations",
    // Cheap refusals first, before a body of up to maxBodyBytes is read only to be refused.
    async (c, next) => {
      checkContentType(c.req.header("content-type"));
      responseFormat(c.req.header("accept"));
      state.assertAccepting();
      queue.assertNotFull();
      await next();
    },
    bodyLimit({
      maxSize: limits.maxBodyBytes,
      onError: () => {
        throw new PayloadTooLargeError(limits.maxBodyBytes);
      },
    }),
    async (c) => {
      const receivedAt = performance.now();
      const format = responseFormat(c.req.header("accept"));
      const input = await readInvocationInput(c.req.header("content-type"), async () => {
        const body = await c.req.arrayBuffer();
        c.set("requestBytes", body.byteLength);
        return body;
      });
      // Checked after the request's own validation, so a malformed request gets the more useful 4xx.
      const models = state.requireReady();
      const profile = requestProfile(models, input, defaultProfileOf(models));
      const { value: result, queueMs } = await queue.run((signal) =>
        segmentInput(models, input, { profile, maxPixels: limits.maxPixels, signal }),
      );
      const identity = { "X-Model-Version": models.manifest.version, "X-Manifest-Sha256": models.manifestSha256 };
      if (format === "csv") {
        const { csv, encodeMs } = toSubmissionCsv(input, result);
        c.set("timings", { ...result.timings, encodeMs, queueMs, totalMs: performance.now() - receivedAt });
        return sendText(c, csv, `${RESPONSE_FORMATS.csv}; charset=utf-8`, identity);
      }
      const answer = toInvocationResponse(models, input, result, { queueMs, receivedAt });
      c.set("timings", answer.timings);
      return sendJson(c, answer, 200, identity);
    },
  );

  return app;

  function defaultProfileOf(models: ServedModels): Profile {
    const preferred = [deps.defaultProfile, models.manifest.defaultProfile];
    return (
      preferred.find((profile) => profile !== undefined && models.profiles.includes(profile)) ?? models.profiles[0]
    );
  }
}

function sendJson(
  c: Context<Env>,
  body: unknown,
  status: 200 | 400 | 404 | 406 | 413 | 415 | 500 | 503 | 504 = 200,
  headers: Record<string, string> = {},
) {
  return sendText(c, JSON.stringify(body), RESPONSE_FORMATS.json, headers, status);
}

function sendText(
  c: Context<Env>,
  text: string,
  contentType: string,
  headers: Record<string, string> = {},
  status: 200 | 400 | 404 | 406 | 413 | 415 | 500 | 503 | 504 = 200,
) {
  c.set("responseBytes", Buffer.byteLength(text));
  return c.body(text, status, { ...headers, "Content-Type": contentType });
}

const round = (ms: number) => Math.round(ms * 10) / 10;
const roundAll = (timings: InvocationTimings) =>
  Object.fromEntries(Object.entries(timings).map(([key, value]) => [key, round(value)])) as InvocationTimings;
