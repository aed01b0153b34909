/**
 * The model server as SageMaker runs it: a real process on a free port, serving the committed model over
 * HTTP. Real inferences take seconds on this machine, so most requests use a 256x256 crop, the server
 * loads only the `fast` profile, and onnxruntime runs on one thread (the machine is shared).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSubmissionCsv } from "../../core/kaggle/csv";
import { maskPixelIndices } from "../../core/masks/binary-mask";
import { decodeKaggleRle } from "../../core/masks/kaggle-rle";
import { errorBodySchema, invocationResponseSchema, type InvocationResponse } from "../../core/schemas/endpoint";
import { pngClaiming } from "../support/forged-png";
import { REPO_ROOT, TRAIN_IMAGES } from "./helpers";

const IMAGE_ID = "0030fd0e6378"; // 704x520 shsy5y
const SERVER_ENTRY = path.join("model-container", "src", "server", "main.ts");
const REQUEST_TIMEOUT_MS = 90_000;
/** onnxruntime-node's CUDA provider, which only the container's install fetches. */
const CUDA_PROVIDER_LIBRARY = path.join(
  REPO_ROOT,
  "node_modules",
  "onnxruntime-node",
  "bin",
  "napi-v6",
  "linux",
  "x64",
  "libonnxruntime_providers_cuda.so",
);

interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** The parts of GET /info the tests read. */
interface Info {
  readonly executionProvider: string;
  readonly members: {
    name: string;
    graphs: Record<"detector" | "masks", { file: string; sha256: string }>;
    executionProvider: string;
    detectorPrecision: string;
    masksPrecision: string;
  }[];
  readonly queue: { active: number; pending: number };
}

/** A server process started as `npm run model-server` would start it (same command, no npm in between). */
interface RunningServer {
  readonly url: string;
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
}

/** Spawns the server; resolves once it logs "listening" (or exits). */
function spawnServer(env: Record<string, string>): Promise<RunningServer & { port: number | undefined }> {
  const child = spawn(process.execPath, ["--import", "tsx", SERVER_ENTRY], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: "0", CELLSEG_THREADS: "1", CELLSEG_PROFILES: "fast", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  createInterface({ input: child.stderr! }).on("line", (line) => stderr.push(line));
  return new Promise((resolve) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let entry: LogLine;
      try {
        entry = JSON.parse(line);
      } catch {
        // Kept, so that a test can show every stdout line is a JSON log entry.
        entry = { level: "not-json", msg: line };
      }
      logs.push(entry);
      if (entry.msg === "listening") {
        const port = entry.port as number;
        resolve({ url: `http://127.0.0.1:${port}`, port, child, logs, stderr, exited });
      }
    });
    void exited.then(() => resolve({ url: "", port: undefined, child, logs, stderr, exited }));
  });
}

/** Starts a server and waits until GET /ping answers 200 (models loaded and warmed up). */
async function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const server = await spawnServer(env);
  if (server.port === undefined)
    throw new Error(`the server exited before listening: ${JSON.stringify(server.logs)} ${server.stderr.join("\n")}`);
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) break;
    const ping = await fetch(`${server.url}/ping`).catch(() => undefined);
    if (ping?.status === 200) return server;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  server.child.kill("SIGKILL");
  throw new Error(`the server never became ready: ${JSON.stringify(server.logs)}`);
}

async function stopServer(server: RunningServer | undefined): Promise<void> {
  if (server && server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill("SIGKILL");
    await server.exited;
  }
}

function invoke(server: RunningServer, body: Uint8Array | string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${server.url}/invocations`, {
    method: "POST",
    body,
    headers,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
}

/** Every RLE lies inside the image, has the reported area, and no two instances share a pixel. */
function expectDisjointMasksInFrame(answer: InvocationResponse): void {
  const owner = new Uint8Array(answer.width * answer.height);
  for (const instance of answer.instances) {
    const pixels = maskPixelIndices(decodeKaggleRle(instance.rle, answer.width, answer.height));
    expect(pixels.length).toBe(instance.area);
    for (const pixel of pixels) {
      expect(owner[pixel]).toBe(0);
      owner[pixel] = 1;
    }
    const [x1, y1, x2, y2] = instance.box;
    expect(0 <= x1 && x1 < x2 && x2 <= answer.width && 0 <= y1 && y1 < y2 && y2 <= answer.height).toBe(true);
  }
}

describe("model server (committed model, real HTTP)", () => {
  const MAX_QUEUE = 2;
  let server: RunningServer;
  let png: Buffer;
  let crop: { png: Buffer; tiff: Buffer; jpeg: Buffer };
  let manifestSha256: string;

  beforeAll(async () => {
    // Prepare
    png = await readFile(path.join(TRAIN_IMAGES, `${IMAGE_ID}.png`));
    const cropped = () => sharp(png).extract({ left: 200, top: 150, width: 256, height: 256 });
    crop = {
      png: await cropped().png().toBuffer(),
      tiff: await cropped().tiff().toBuffer(),
      jpeg: await cropped().jpeg({ quality: 95 }).toBuffer(),
    };
    manifestSha256 = createHash("sha256")
      .update(await readFile(path.join(REPO_ROOT, "model-container", "models", "manifest.json")))
      .digest("hex");
    server = await startServer({ CELLSEG_MAX_QUEUE: String(MAX_QUEUE), CELLSEG_MAX_CONCURRENCY: "1" });
  });

  afterAll(() => stopServer(server));

  it("answers /ping with 200, the execution provider and the model version once warmed up", async () => {
    // Act
    const response = await fetch(`${server.url}/ping`);

    // Assess
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: "ready",
      executionProvider: expect.stringMatching(/^(cuda|cpu)$/),
      modelVersion: expect.any(String),
    });
    expect(server.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(["listening", "models loaded", "ready"]));
    expect(server.logs.find((l) => l.msg === "models loaded")).toMatchObject({
      warmUpMs: { fast: expect.any(Number) },
    });
    expect(server.logs.filter((l) => l.level === "not-json")).toEqual([]);
  });

  it("describes the manifest, members, profiles, provider and limits on /info", async () => {
    const info = (await (await fetch(`${server.url}/info`)).json()) as Info;
    expect(info).toMatchObject({
      status: "ready",
      manifestSha256,
      profiles: ["fast"],
      defaultProfile: "fast",
      limits: { maxConcurrency: 1, maxQueue: MAX_QUEUE, maxPixels: 25_000_000, requestTimeoutMs: 60_000 },
      queue: { active: 0, pending: 0 },
    });
    expect(info.members[0]).toMatchObject({
      name: expect.any(String),
      graphs: {
        detector: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
        masks: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
        detectorInt8: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
        masksInt8: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      },
      executionProvider: info.executionProvider,
      // The committed member's int8 detector and mask head are the CPU's.
      detectorPrecision: "int8",
      masksPrecision: "int8",
    });
  });

  it("segments a PNG into disjoint instances with Kaggle RLEs in the image's frame", async () => {
    // Act
    const response = await invoke(server, png, { "Content-Type": "image/png" });

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const answer = invocationResponseSchema.parse(await response.json());
    expect(answer).toMatchObject({ width: 704, height: 520, profile: "fast", manifestSha256 });
    expect(answer.tileOrigin).toBeUndefined();
    expectDisjointMasksInFrame(answer);
    if (answer.instances.length > 0) expect(answer.instances.every((i) => i.cellType === answer.cellType)).toBe(true);
    else expect(answer.cellType).toBeNull();
    expect(answer.timings.inferenceMs).toBeGreaterThan(0);
    expect(answer.timings.totalMs).toBeGreaterThanOrEqual(answer.timings.inferenceMs);
    // One log line for the request, with its timings.
    const line = server.logs.find((l) => l.msg === "request" && l.path === "/invocations" && l.status === 200);
    expect(line).toMatchObject({
      method: "POST",
      requestBytes: png.length,
      timings: { inferenceMs: expect.any(Number) },
    });
  });

  it.each([
    ["image/tiff", "tiff"],
    ["image/jpeg", "jpeg"],
  ] as const)("segments a body of type %s", async (contentType, format) => {
    // Act
    const response = await invoke(server, crop[format], { "Content-Type": contentType });

    // Assess
    expect(response.status).toBe(200);
    const answer = invocationResponseSchema.parse(await response.json());
    expect(answer).toMatchObject({ width: 256, height: 256 });
    expectDisjointMasksInFrame(answer);
  });

  it("reads JSON with a base64 image, threshold overrides and a tile origin, which it echoes", async () => {
    // Prepare
    const body = JSON.stringify({
      image: crop.png.toString("base64"),
      profile: "fast",
      thresholds: {
        scoreThresholds: { shsy5y: 0.95, astro: 0.95, cort: 0.95 },
        minAreas: { astro: 500 },
        maskThreshold: 0.6,
      },
      tileOrigin: { x: 512, y: 256 },
    });

    // Act
    const response = await invoke(server, body, { "Content-Type": "application/json; charset=utf-8" });

    // Assess
    expect(response.status).toBe(200);
    const answer = invocationResponseSchema.parse(await response.json());
    expect(answer.tileOrigin).toEqual({ x: 512, y: 256 });
    expect(answer).toMatchObject({ width: 256, height: 256 });
    expect(answer.instances.every((i) => i.score >= 0.95)).toBe(true);
    expectDisjointMasksInFrame(answer);
  });

  it("answers Accept: text/csv with the image's Kaggle submission rows", async () => {
    // Prepare
    const body = JSON.stringify({ image: crop.png.toString("base64"), id: "crop-1" });

    // Act
    const response = await invoke(server, body, { "Content-Type": "application/json", Accept: "text/csv" });

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(response.headers.get("x-manifest-sha256")).toBe(manifestSha256);
    const text = await response.text();
    expect(text.startsWith("id,predicted\n")).toBe(true);
    const submission = parseSubmissionCsv(text);
    expect([...submission.keys()]).toEqual(["crop-1"]);
    for (const rle of submission.get("crop-1")!.annotations) expect(() => decodeKaggleRle(rle, 256, 256)).not.toThrow();
  });

  describe("bad requests get a 4xx with a clear message, and the server keeps serving", () => {
    it.each<[string, () => { body: Uint8Array | string; headers: Record<string, string> }, number, string, RegExp]>([
      [
        "an empty body",
        () => ({ body: new Uint8Array(0), headers: { "Content-Type": "image/png" } }),
        400,
        "invalid_image",
        /empty/,
      ],
      [
        "bytes that are not an image",
        () => ({ body: "hello, world", headers: { "Content-Type": "image/png" } }),
        400,
        "invalid_image",
        /Unsupported image format/,
      ],
      [
        "a truncated PNG",
        () => ({ body: png.subarray(0, png.length / 3), headers: { "Content-Type": "image/png" } }),
        400,
        "invalid_image",
        /Cannot read the PNG/,
      ],
      // libspng refuses a 0-sized IHDR as a corrupt header, before decode.ts's own "no pixels" check.
      [
        "a 0x0 PNG",
        () => ({ body: pngClaiming(0, 0), headers: { "Content-Type": "image/png" } }),
        400,
        "invalid_image",
        /PNG image: .*corrupt header|no pixels/,
      ],
      [
        "a PNG claiming 100000x100000 pixels",
        () => ({ body: pngClaiming(100_000, 100_000), headers: { "Content-Type": "image/png" } }),
        413,
        "image_too_large",
        /100000x100000.*over the limit of 25000000 pixels/,
      ],
      [
        "a text/plain body",
        () => ({ body: "hello", headers: { "Content-Type": "text/plain" } }),
        415,
        "unsupported_media_type",
        /text\/plain is not supported/,
      ],
      [
        "malformed JSON",
        () => ({ body: '{"image": ', headers: { "Content-Type": "application/json" } }),
        400,
        "invalid_request",
        /not valid JSON/,
      ],
      [
        "thresholds out of bounds",
        () => ({
          body: JSON.stringify({ image: "aGk=", thresholds: { scoreThresholds: { astro: 2 } } }),
          headers: { "Content-Type": "application/json" },
        }),
        400,
        "invalid_request",
        /thresholds\.scoreThresholds\.astro: .*0\.95/,
      ],
      [
        "a profile the server does not serve",
        () => ({
          body: JSON.stringify({ image: crop.png.toString("base64"), profile: "accurate" }),
          headers: { "Content-Type": "application/json" },
        }),
        400,
        "invalid_request",
        /profile "accurate" is not served here; served: fast/,
      ],
      [
        "an Accept header it cannot satisfy",
        () => ({ body: crop.png, headers: { "Content-Type": "image/png", Accept: "image/png" } }),
        406,
        "not_acceptable",
        /Accept: image\/png/,
      ],
    ])("answers %s with %i", async (_name, request, status, code, message) => {
      // Prepare
      const { body, headers } = request();

      // Act
      const response = await invoke(server, body, headers);

      // Assess
      expect(response.status).toBe(status);
      const { error } = errorBodySchema.parse(await response.json());
      expect(error.code).toBe(code);
      expect(error.message).toMatch(message);
      expect((await fetch(`${server.url}/ping`)).status).toBe(200);
    });
  });

  it("refuses requests beyond the queue with 503 and Retry-After, and answers all the others", async () => {
    // Act: 6 at once, with one inference slot and 2 places in the queue.
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => invoke(server, crop.png, { "Content-Type": "image/png" })),
    );

    // Assess
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1 + MAX_QUEUE);
    const refused = responses.filter((r) => r.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    for (const response of refused) {
      expect(response.headers.get("retry-after")).toBe("1");
      expect(errorBodySchema.parse(await response.json()).error.code).toBe("queue_full");
    }
    for (const response of responses.filter((r) => r.status === 200))
      invocationResponseSchema.parse(await response.json());
  });

  // Last: it stops the server.
  it("finishes the request in flight on SIGTERM, then exits 0", async () => {
    // Prepare: a full-size image, so the inference is still running when the signal arrives.
    const inFlight = invoke(server, png, { "Content-Type": "image/png" });
    for (let i = 0; i < 500; i++) {
      const info = (await (await fetch(`${server.url}/info`)).json()) as Info;
      if (info.queue.active > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    // The main thread answered /info while the inference ran: inference happens in a worker thread.
    const info = (await (await fetch(`${server.url}/info`)).json()) as Info;
    expect(info.queue.active).toBe(1);

    // Act
    server.child.kill("SIGTERM");

    // Assess
    const response = await inFlight;
    expect(response.status).toBe(200);
    invocationResponseSchema.parse(await response.json());
    expect(await server.exited).toBe(0);
    expect(server.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(["draining", "stopped"]));
    expect(server.logs.find((l) => l.msg === "stopped")).toMatchObject({ drained: true });
  });
});

describe("model server deadline", () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({ CELLSEG_REQUEST_TIMEOUT_MS: "50" });
  });

  afterAll(() => stopServer(server));

  it("answers a request that outlives its deadline with 504, and keeps serving", async () => {
    // Prepare
    const image = await sharp(path.join(TRAIN_IMAGES, `${IMAGE_ID}.png`))
      .extract({ left: 0, top: 0, width: 256, height: 256 })
      .png()
      .toBuffer();

    // Act
    const response = await invoke(server, image, { "Content-Type": "image/png" });

    // Assess
    expect(response.status).toBe(504);
    const { error } = errorBodySchema.parse(await response.json());
    expect(error).toEqual({ code: "timeout", message: expect.stringMatching(/within 50 ms/) });
    expect((await fetch(`${server.url}/ping`)).status).toBe(200);
  });
});

describe("model server start-up failures", () => {
  it("exits 1 with one clear JSON log line when the model directory has no manifest", async () => {
    // Prepare
    const empty = await mkdtemp(path.join(tmpdir(), "cellseg-no-models-"));

    // Act
    const server = await spawnServer({ CELLSEG_MODEL_DIR: empty });
    const code = await server.exited;

    // Assess
    expect(code).toBe(1);
    const failure = server.logs.find((l) => l.level === "error");
    expect(failure).toMatchObject({
      msg: "cannot load models",
      modelDir: empty,
      error: expect.stringMatching(/manifest\.json/),
    });
  });

  // The deployed endpoint requires CUDA (infra/constructs/model-endpoint.ts): without it the server must not
  // come up on the CPU. Where onnxruntime-node's CUDA provider is installed, it would rightly start.
  it.skipIf(existsSync(CUDA_PROVIDER_LIBRARY))(
    "exits 1 when CUDA is required and onnxruntime cannot load it, rather than serve on the CPU",
    async () => {
      // Act
      const server = await spawnServer({ CELLSEG_EXECUTION_PROVIDER: "cuda" });
      const code = await server.exited;

      // Assess
      expect(code).toBe(1);
      expect(server.logs.find((l) => l.level === "error")).toMatchObject({
        msg: "cannot load models",
        error: expect.stringMatching(/cuda/i),
      });
    },
  );

  it("exits 1 naming the variable when the configuration is malformed", async () => {
    // Act
    const server = await spawnServer({ CELLSEG_MAX_QUEUE: "lots" });
    const code = await server.exited;

    // Assess
    expect(code).toBe(1);
    expect(server.logs.find((l) => l.level === "error")).toMatchObject({
      msg: "invalid configuration",
      error: expect.stringMatching(/CELLSEG_MAX_QUEUE="lots": must be a whole number/),
    });
  });
});
