/**
 * The model server's HTTP app through `app.request()`, for everything that needs no model: readiness,
 * refusals, limits, request validation, error bodies and logs. Requests that segment run against the real
 * server in test/integration/model-server.test.ts. Also the inference queue (with controllable jobs) and
 * the configuration.
 */
import { describe, expect, it } from "vitest";
import { errorBodySchema } from "../../../core/schemas/endpoint";
import type { Manifest } from "../../../core/schemas/manifest";
import { createApp, ServingState, type AppLimits } from "../../../model-container/src/server/app";
import { loadConfig } from "../../../model-container/src/server/config";
import { withOverrides, type ServedModels } from "../../../model-container/src/server/inference-pool";
import { InferenceQueue } from "../../../model-container/src/server/inference-queue";
import { QueueFullError, RequestTimeoutError } from "../../../model-container/src/server/errors";
import { responseFormat } from "../../../model-container/src/server/invocation";
import { createLogger } from "../../../model-container/src/server/logger";

const LIMITS: AppLimits = {
  maxBodyBytes: 1024,
  maxPixels: 1_000_000,
  maxConcurrency: 1,
  maxQueue: 1,
  requestTimeoutMs: 1_000,
};
const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

function setup(limits: Partial<AppLimits> = {}) {
  const lines: Record<string, unknown>[] = [];
  const state = new ServingState();
  const all = { ...LIMITS, ...limits };
  const queue = new InferenceQueue({
    maxConcurrency: all.maxConcurrency,
    maxQueue: all.maxQueue,
    timeoutMs: all.requestTimeoutMs,
  });
  const logger = createLogger({ write: (line) => lines.push(JSON.parse(line)), level: "debug" });
  const app = createApp({ state, queue, limits: all, logger });
  const invoke = (body: string | Uint8Array, headers: Record<string, string>) =>
    app.request("/invocations", { method: "POST", body, headers });
  return { app, state, queue, lines, invoke };
}

async function errorOf(response: Response) {
  return errorBodySchema.parse(await response.json()).error;
}

describe("model server app before the models are loaded", () => {
  it("answers /ping with 503 while loading", async () => {
    // Prepare
    const { app } = setup();

    // Act
    const response = await app.request("/ping");

    // Assess
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: "loading" });
  });

  it("answers a valid invocation with 503 not_ready and Retry-After", async () => {
    const { invoke } = setup();
    const response = await invoke(PNG_SIGNATURE, { "Content-Type": "image/png" });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("1");
    expect((await errorOf(response)).code).toBe("not_ready");
  });

  it("answers /info with 503 until there are models to describe", async () => {
    const { app } = setup();
    const response = await app.request("/info");
    expect(response.status).toBe(503);
  });
});

describe("model server app refusals", () => {
  it("returns 415 for a text/plain body, naming the accepted types", async () => {
    // Prepare
    const { invoke } = setup();

    // Act
    const response = await invoke("hello", { "Content-Type": "text/plain" });

    // Assess
    expect(response.status).toBe(415);
    const error = await errorOf(response);
    expect(error.code).toBe("unsupported_media_type");
    expect(error.message).toMatch(/text\/plain .*image\/png, image\/tiff, image\/jpeg, application\/json/);
  });

  it("returns 415 when the Content-Type is missing", async () => {
    const { app } = setup();
    const response = await app.request("/invocations", { method: "POST", body: PNG_SIGNATURE });
    expect(response.status).toBe(415);
    expect((await errorOf(response)).message).toMatch(/no Content-Type/);
  });

  it("returns 413 for a body over the limit, without reading it all", async () => {
    // Prepare
    const { invoke } = setup({ maxBodyBytes: 16 });

    // Act
    const response = await invoke(new Uint8Array(1000), { "Content-Type": "image/png" });

    // Assess
    expect(response.status).toBe(413);
    expect(await errorOf(response)).toEqual({
      code: "payload_too_large",
      message: "the request body is larger than the limit of 16 bytes",
    });
  });

  it("returns 400 for malformed JSON", async () => {
    const { invoke } = setup();
    const response = await invoke('{"image": "aGk=",', { "Content-Type": "application/json" });
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatchObject({
      code: "invalid_request",
      message: expect.stringMatching(/not valid JSON/),
    });
  });

  it.each([
    [
      "a threshold above its bound",
      { image: "aGk=", thresholds: { maskThreshold: 0.9 } },
      /thresholds\.maskThreshold: .*0\.8/,
    ],
    [
      "a fractional minimum area",
      { image: "aGk=", thresholds: { minAreas: { cort: 10.5 } } },
      /thresholds\.minAreas\.cort/,
    ],
    [
      "an unknown cell type",
      { image: "aGk=", thresholds: { scoreThresholds: { neuron: 0.5 } } },
      /thresholds\.scoreThresholds: .*neuron/,
    ],
    ["a negative tile origin", { image: "aGk=", tileOrigin: { x: -1, y: 0 } }, /tileOrigin\.x/],
    ["an unknown profile", { image: "aGk=", profile: "fastest" }, /profile: /],
    ["a misspelt option", { image: "aGk=", treshold: 0.5 }, /treshold/],
    ["an image that is not base64", { image: "not base64!" }, /image: image must be a base64-encoded/],
    ["no image", { profile: "fast" }, /image: /],
  ])("returns 400 naming the field for %s", async (_name, body, message) => {
    // Prepare
    const { invoke } = setup();

    // Act
    const response = await invoke(JSON.stringify(body), { "Content-Type": "application/json" });

    // Assess
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatchObject({ code: "invalid_request", message: expect.stringMatching(message) });
  });

  it("returns 406 when the Accept header allows neither JSON nor CSV", async () => {
    const { invoke } = setup();
    const response = await invoke(PNG_SIGNATURE, { "Content-Type": "image/png", Accept: "image/png" });
    expect(response.status).toBe(406);
  });

  it("returns 503 shutting_down and Connection: close once draining", async () => {
    // Prepare
    const { invoke, state } = setup();
    state.startDraining();

    // Act
    const response = await invoke(PNG_SIGNATURE, { "Content-Type": "image/png" });

    // Assess
    expect(response.status).toBe(503);
    expect(response.headers.get("connection")).toBe("close");
    expect((await errorOf(response)).code).toBe("shutting_down");
  });

  it("returns 503 queue_full before reading the body when the queue is full", async () => {
    // Prepare: one job running and one waiting fill a queue of concurrency 1 and length 1.
    const { invoke, queue } = setup();
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const running = queue.run(() => blocked);
    const waiting = queue.run(async () => undefined);

    // Act
    const response = await invoke(PNG_SIGNATURE, { "Content-Type": "image/png" });

    // Assess
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("1");
    expect((await errorOf(response)).code).toBe("queue_full");
    release();
    await Promise.all([running, waiting]);
  });

  it("answers an unknown route with a JSON 404", async () => {
    const { app } = setup();
    const response = await app.request("/invocation", { method: "POST" });
    expect(response.status).toBe(404);
    expect((await errorOf(response)).message).toBe("no route for POST /invocation");
  });

  it("logs one JSON line per request with method, path, status, bytes and the error code", async () => {
    // Prepare
    const { invoke, lines } = setup();

    // Act: a refused body is never read, so its size comes from Content-Length, as over HTTP.
    await invoke("hello", { "Content-Type": "text/plain", "Content-Length": "5" });

    // Assess
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "warn",
      msg: "request",
      method: "POST",
      path: "/invocations",
      status: 415,
      requestBytes: 5,
      responseBytes: expect.any(Number),
      errorCode: "unsupported_media_type",
      requestId: expect.any(String),
    });
  });
});

describe("response format negotiation", () => {
  it.each([
    [undefined, "json"],
    ["*/*", "json"],
    ["application/json", "json"],
    ["text/csv", "csv"],
    ["text/*", "csv"],
    ["application/json;q=0.5, text/csv", "csv"],
    ["text/csv;q=0.5, application/json", "json"],
    ["text/csv, application/json", "json"],
  ] as const)("answers Accept %s with %s", (accept, format) => {
    expect(responseFormat(accept)).toBe(format);
  });

  it("refuses an Accept header that rules both formats out", () => {
    expect(() => responseFormat("application/json;q=0, text/csv;q=0")).toThrow(/allows no format/);
  });
});

describe("threshold overrides", () => {
  const base = {
    scoreThresholds: { shsy5y: 0.2, astro: 0.4, cort: 0.6 },
    minAreas: { shsy5y: 75, astro: 150, cort: 75 },
    maskThreshold: 0.5,
    fusionIou: 0.55,
    minKeptFraction: 0.7,
  };

  it("replaces only the values a request names", () => {
    // Act
    const merged = withOverrides(base, { scoreThresholds: { astro: 0.3 }, minAreas: { cort: 0 } });

    // Assess
    expect(merged).toEqual({
      scoreThresholds: { shsy5y: 0.2, astro: 0.3, cort: 0.6 },
      minAreas: { shsy5y: 75, astro: 150, cort: 0 },
      maskThreshold: 0.5,
      fusionIou: 0.55,
      minKeptFraction: 0.7,
    });
  });

  it("keeps the profile's post-processing when there are no overrides", () => {
    expect(withOverrides(base, undefined)).toBe(base);
    expect(withOverrides(base, { maskThreshold: 0.7 })).toEqual({ ...base, maskThreshold: 0.7 });
  });
});

describe("inference queue", () => {
  const deferred = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };

  it("runs at most maxConcurrency jobs and refuses one beyond maxQueue waiting", async () => {
    // Prepare
    const queue = new InferenceQueue({ maxConcurrency: 1, maxQueue: 1, timeoutMs: 10_000 });
    const gate = deferred();
    const first = queue.run(() => gate.promise);
    const second = queue.run(async () => "second");

    // Act
    const third = queue.run(async () => "third");

    // Assess
    await expect(third).rejects.toBeInstanceOf(QueueFullError);
    expect([queue.active, queue.pending]).toEqual([1, 1]);
    gate.resolve();
    await first;
    await expect(second).resolves.toMatchObject({ value: "second", queueMs: expect.any(Number) });
  });

  it("answers a running job that outlives its deadline with RequestTimeoutError and aborts its signal", async () => {
    // Prepare
    const queue = new InferenceQueue({ maxConcurrency: 1, maxQueue: 0, timeoutMs: 20 });
    const gate = deferred();
    let signal: AbortSignal | undefined;

    // Act
    const result = queue.run((s) => {
      signal = s;
      return gate.promise;
    });

    // Assess
    await expect(result).rejects.toThrow(new RequestTimeoutError(20, true));
    expect(signal?.aborted).toBe(true);
    // The job still holds its slot until it really ends.
    expect(queue.active).toBe(1);
    gate.resolve();
    await queue.onIdle();
    expect(queue.active).toBe(0);
  });

  it("skips a job whose deadline passed while it waited", async () => {
    // Prepare
    const queue = new InferenceQueue({ maxConcurrency: 1, maxQueue: 1, timeoutMs: 30 });
    const gate = deferred();
    let ran = false;
    const first = queue.run(() => gate.promise).catch(() => undefined);

    // Act
    const waiting = queue.run(async () => {
      ran = true;
    });
    await expect(waiting).rejects.toThrow(/while waiting for a slot/);
    gate.resolve();
    await first;
    await queue.onIdle();

    // Assess
    expect(ran).toBe(false);
  });

  it("passes a job's own error through", async () => {
    const queue = new InferenceQueue({ maxConcurrency: 1, maxQueue: 0, timeoutMs: 1_000 });
    await expect(queue.run(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(queue.run(async () => 42)).resolves.toMatchObject({ value: 42 });
  });
});

describe("default profile", () => {
  const served = (defaultProfile: "fast" | "accurate", profiles: ("fast" | "accurate")[]): ServedModels => ({
    manifest: { version: "v", members: [], defaultProfile } as unknown as Manifest,
    manifestSha256: "0".repeat(64),
    profiles,
    members: [],
    segment: () => Promise.reject(new Error("not used")),
  });
  const infoOf = async (app: ReturnType<typeof createApp>) =>
    (await (await app.request("/info")).json()) as { defaultProfile: string };
  const appWith = (models: ServedModels, defaultProfile?: "fast" | "accurate") => {
    const state = new ServingState();
    state.markReady(models);
    const queue = new InferenceQueue({ maxConcurrency: 1, maxQueue: 1, timeoutMs: 1_000 });
    return createApp({ state, queue, limits: LIMITS, logger: createLogger({ write: () => {} }), defaultProfile });
  };

  it("is the manifest's better profile unless CELLSEG_PROFILES names one first", async () => {
    expect((await infoOf(appWith(served("accurate", ["fast", "accurate"])))).defaultProfile).toBe("accurate");
    expect((await infoOf(appWith(served("accurate", ["fast", "accurate"]), "fast"))).defaultProfile).toBe("fast");
    // The better profile is not loaded: the first served.
    expect((await infoOf(appWith(served("accurate", ["fast"])))).defaultProfile).toBe("fast");
  });
});

describe("server config", () => {
  it("uses SageMaker's port and the documented defaults", () => {
    expect(loadConfig({})).toEqual({
      port: 8080,
      host: "0.0.0.0",
      modelDir: undefined,
      executionProvider: "auto",
      threads: undefined,
      float32: false,
      profiles: ["fast", "accurate"],
      defaultProfile: undefined, // the manifest's
      maxConcurrency: 1,
      maxQueue: 16,
      maxBodyBytes: 50 * 1024 * 1024,
      maxPixels: 25_000_000,
      requestTimeoutMs: 60_000,
    });
  });

  it("reads every variable", () => {
    const config = loadConfig({
      PORT: "9000",
      CELLSEG_HOST: "127.0.0.1",
      CELLSEG_MODEL_DIR: "/models",
      CELLSEG_EXECUTION_PROVIDER: "cpu",
      CELLSEG_THREADS: "2",
      CELLSEG_FLOAT32: "1",
      CELLSEG_PROFILES: "accurate, fast,accurate",
      CELLSEG_MAX_CONCURRENCY: "2",
      CELLSEG_MAX_QUEUE: "0",
      CELLSEG_MAX_BODY_BYTES: "1000",
      CELLSEG_MAX_PIXELS: "5000",
      CELLSEG_REQUEST_TIMEOUT_MS: "250",
    });
    expect(config).toEqual({
      port: 9000,
      host: "127.0.0.1",
      modelDir: "/models",
      executionProvider: "cpu",
      threads: 2,
      float32: true,
      profiles: ["accurate", "fast"],
      defaultProfile: "accurate",
      maxConcurrency: 2,
      maxQueue: 0,
      maxBodyBytes: 1000,
      maxPixels: 5000,
      requestTimeoutMs: 250,
    });
  });

  it("names each malformed variable and its value", () => {
    expect(() =>
      loadConfig({
        PORT: "80a",
        CELLSEG_EXECUTION_PROVIDER: "gpu",
        CELLSEG_PROFILES: "fast,best",
        CELLSEG_FLOAT32: "yes",
        CELLSEG_MAX_CONCURRENCY: "0",
      }),
    ).toThrow(
      new RegExp(
        [
          'PORT="80a": must be a whole number',
          'CELLSEG_EXECUTION_PROVIDER="gpu"',
          'CELLSEG_FLOAT32="yes": must be 1 or 0',
          'CELLSEG_PROFILES="fast,best"',
          'CELLSEG_MAX_CONCURRENCY="0": must be at least 1',
        ].join(".*"),
      ),
    );
  });
});
