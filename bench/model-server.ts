/**
 * Model-server figures for `npm run bench` (bench/run.ts calls {@link benchModelServer}):
 *
 * - **bare inference**: onnxruntime alone as the runtime drives it (the segmenter's inference time: the
 *   detectors, then the mask head for the cells kept) for the same images, in this process, before the
 *   server starts (so the two never compete for the device);
 * - **serving overhead**: sequential requests (no queueing) to the real server; the ratio of the server's
 *   own time for a request (its reported `totalMs - queueMs`: body read, decode, normalise, inference,
 *   post-process, RLE encoding) to the bare inference time. The client-side ratio (HTTP round trip
 *   included) is reported beside it;
 * - **throughput**: autocannon at 2x the server's concurrency limit: requests/s and latency percentiles;
 * - **burst**: autocannon at 4x the server's admission limit (running + queued requests), so that most
 *   requests are refused, while the server's resident memory is sampled; peak RSS is the process's
 *   VmHWM (Linux), which covers the inference workers too.
 *
 * Every image should be 704x520 (the Sartorius size). Compare figures within one run, on one machine.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile, readdir } from "node:fs/promises";
import { cpus } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import autocannon from "autocannon";
import { decodeImage } from "../core/image/decode";
import { invocationResponseSchema } from "../core/schemas/endpoint";
import type { Profile } from "../core/schemas/manifest";
import { loadModels } from "../inference/model-store";
import type { ExecutionProviderChoice } from "../inference/types";
import { readMemory } from "./process-memory";

const REPO_ROOT = path.resolve(import.meta.dirname, "..");
const TRAIN_IMAGES = path.resolve(REPO_ROOT, "..", "shared", "data", "sartorius", "train", "images");
const SERVER_ENTRY = path.join("model-container", "src", "server", "main.ts");

export interface ModelServerBenchOptions {
  /** 704x520 PNG files. @default the first 4 images of the Sartorius train set */
  readonly images?: readonly string[];
  readonly profile?: Profile;
  /** The server's CELLSEG_MAX_CONCURRENCY. @default 1 */
  readonly maxConcurrency?: number;
  /** The server's CELLSEG_MAX_QUEUE. @default 16 */
  readonly maxQueue?: number;
  /** onnxruntime threads, for the server and the bare runs alike. @default onnxruntime's choice */
  readonly threads?: number;
  readonly executionProvider?: ExecutionProviderChoice;
  /** Sequential requests per image for the overhead ratio (after one warm-up request). @default 3 */
  readonly sequentialPerImage?: number;
  /** Seconds of the throughput run. @default 20 */
  readonly throughputSeconds?: number;
  /** Seconds of the burst (the figure is 300). @default 30 */
  readonly burstSeconds?: number;
  /** Connections of the burst. @default 4 x (maxConcurrency + maxQueue) */
  readonly burstConnections?: number;
  /** Progress lines. @default nothing */
  readonly log?: (line: string) => void;
}

export interface ModelServerBenchResult {
  readonly machine: { readonly cpu: string; readonly cores: number; readonly node: string };
  readonly server: {
    readonly profile: Profile;
    readonly executionProvider: string;
    readonly maxConcurrency: number;
    readonly maxQueue: number;
    readonly threads: number | null;
  };
  readonly images: number;
  readonly bareInference: { readonly meanMs: number; readonly executionProvider: string };
  readonly overhead: {
    readonly requests: number;
    /** Mean of the server's totalMs - queueMs. */
    readonly serverMs: number;
    /** Mean of the server's reported inferenceMs (inside the same request). */
    readonly serverInferenceMs: number;
    /** Mean client round trip, HTTP included. */
    readonly clientMs: number;
    /** serverMs / bare inference: the serving overhead (target <= 1.10). */
    readonly serverToBare: number;
    readonly clientToBare: number;
    readonly definition: string;
  };
  readonly throughput: {
    readonly connections: number;
    readonly seconds: number;
    /** Successful (2xx) responses per second. */
    readonly requestsPerSecond: number;
    readonly latencyMs: {
      readonly p50: number;
      readonly p90: number;
      readonly p99: number;
      readonly mean: number;
      readonly max: number;
    };
    readonly non2xx: number;
    readonly errors: number;
  };
  readonly burst: {
    readonly connections: number;
    readonly seconds: number;
    readonly ok: number;
    readonly refused503: number;
    readonly otherNon2xx: number;
    readonly errors: number;
    readonly rssBeforeMiB: number;
    readonly rssMaxSampledMiB: number;
    readonly rssAfterMiB: number;
    /** VmHWM of the server process at the end (its peak over its whole life, start-up included). */
    readonly peakRssMiB: number;
  };
}

/**
 * Runs the model-server benchmark and returns its figures. Starts and stops the real server itself.
 *
 * @example
 * ```ts
 * const figures = await benchModelServer({ profile: "fast", throughputSeconds: 20, burstSeconds: 300 });
 * console.log(figures.overhead.serverToBare, figures.throughput.latencyMs.p99, figures.burst.peakRssMiB);
 * ```
 */
export async function benchModelServer(options: ModelServerBenchOptions = {}): Promise<ModelServerBenchResult> {
  const log = options.log ?? (() => undefined);
  const profile = options.profile ?? "fast";
  const maxConcurrency = options.maxConcurrency ?? 1;
  const maxQueue = options.maxQueue ?? 16;
  const executionProvider = options.executionProvider ?? "auto";
  const files = options.images ?? (await defaultImages(4));
  const bodies = await Promise.all(files.map((file) => readFile(file)));

  log(`bare onnxruntime inference on ${files.length} images (${profile})`);
  const bare = await bareInference(bodies, profile, executionProvider, options.threads);

  log("starting the model server");
  const server = await startServer({
    CELLSEG_PROFILES: profile,
    CELLSEG_MAX_CONCURRENCY: String(maxConcurrency),
    CELLSEG_MAX_QUEUE: String(maxQueue),
    CELLSEG_EXECUTION_PROVIDER: executionProvider,
    ...(options.threads ? { CELLSEG_THREADS: String(options.threads) } : {}),
  });
  try {
    log("sequential requests (serving overhead)");
    const overhead = await sequentialRequests(server.url, bodies, options.sequentialPerImage ?? 3);
    const requests = bodies.map((body) => ({
      method: "POST" as const,
      path: "/invocations",
      headers: { "content-type": "image/png" },
      body,
    }));
    const timeout = 120;

    const throughputConnections = 2 * maxConcurrency;
    const throughputSeconds = options.throughputSeconds ?? 20;
    log(`throughput: ${throughputConnections} connections for ${throughputSeconds} s`);
    const load = await autocannon({
      url: server.url,
      connections: throughputConnections,
      duration: throughputSeconds,
      requests,
      timeout,
    });

    const burstConnections = options.burstConnections ?? 4 * (maxConcurrency + maxQueue);
    const burstSeconds = options.burstSeconds ?? 30;
    log(`burst: ${burstConnections} connections for ${burstSeconds} s`);
    const rssBefore = readMemory(server.pid).rssKiB;
    let rssMax = rssBefore;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, readMemory(server.pid).rssKiB)), 250);
    // autocannon's instance is a thenable, not a Promise: no finally of its own.
    const burst = await Promise.resolve(
      autocannon({ url: server.url, connections: burstConnections, duration: burstSeconds, requests, timeout }),
    ).finally(() => clearInterval(sampler));
    const after = readMemory(server.pid);

    const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
    const serverMs = mean(overhead.map((o) => o.serverMs));
    const clientMs = mean(overhead.map((o) => o.clientMs));
    return {
      machine: { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, node: process.version },
      server: {
        profile,
        executionProvider: server.executionProvider,
        maxConcurrency,
        maxQueue,
        threads: options.threads ?? null,
      },
      images: files.length,
      bareInference: { meanMs: round(bare.meanMs), executionProvider: bare.executionProvider },
      overhead: {
        requests: overhead.length,
        serverMs: round(serverMs),
        serverInferenceMs: round(mean(overhead.map((o) => o.inferenceMs))),
        clientMs: round(clientMs),
        serverToBare: round(serverMs / bare.meanMs, 3),
        clientToBare: round(clientMs / bare.meanMs, 3),
        definition:
          "server time = the server's reported totalMs - queueMs (body read, decode, normalise, inference, " +
          "post-process, RLE); bare = the runtime's inference on the same images: every member x TTA " +
          "variant's detector, then the mask head for the cells kept",
      },
      throughput: {
        connections: throughputConnections,
        seconds: load.duration,
        requestsPerSecond: round(load["2xx"] / load.duration, 2),
        latencyMs: {
          p50: load.latency.p50,
          p90: load.latency.p90,
          p99: load.latency.p99,
          mean: round(load.latency.mean),
          max: load.latency.max,
        },
        non2xx: load.non2xx,
        errors: load.errors,
      },
      burst: {
        connections: burstConnections,
        seconds: burst.duration,
        ok: burst["2xx"],
        refused503: burst["5xx"],
        otherNon2xx: burst.non2xx - burst["5xx"],
        errors: burst.errors,
        rssBeforeMiB: mib(rssBefore),
        rssMaxSampledMiB: mib(rssMax),
        rssAfterMiB: mib(after.rssKiB),
        peakRssMiB: mib(after.hwmKiB),
      },
    };
  } finally {
    await server.stop();
  }
}

/**
 * Mean milliseconds of onnxruntime alone per image, as the runtime spends them: every member of the profile
 * under every TTA variant (detectors), then the mask head for the cells kept (the segmenter's inference time).
 */
async function bareInference(
  bodies: readonly Uint8Array[],
  profile: Profile,
  executionProvider: ExecutionProviderChoice,
  threads: number | undefined,
): Promise<{ meanMs: number; executionProvider: string }> {
  const { segmenters, members } = await loadModels({ profiles: [profile], executionProvider, threads });
  try {
    const segmenter = segmenters[profile]!;
    const images = await Promise.all(bodies.map((body) => decodeImage(body)));
    await segmenter.segment(images[0]!); // warm-up, not counted
    const times: number[] = [];
    for (const image of images) times.push((await segmenter.segment(image)).timings.inferenceMs);
    return {
      meanMs: times.reduce((a, b) => a + b, 0) / times.length,
      executionProvider: members[0]?.executionProvider ?? "cpu",
    };
  } finally {
    await Promise.all(members.map((member) => member.release()));
  }
}

async function sequentialRequests(url: string, bodies: readonly Uint8Array[], perImage: number) {
  const post = async (body: Uint8Array) => {
    const started = performance.now();
    const response = await fetch(`${url}/invocations`, {
      method: "POST",
      body,
      headers: { "Content-Type": "image/png" },
    });
    if (response.status !== 200) throw new Error(`the server answered ${response.status}: ${await response.text()}`);
    const answer = invocationResponseSchema.parse(await response.json());
    return {
      clientMs: performance.now() - started,
      serverMs: answer.timings.totalMs - answer.timings.queueMs,
      inferenceMs: answer.timings.inferenceMs,
    };
  };
  await post(bodies[0]); // warm-up, not counted
  const rows = [];
  for (let round = 0; round < perImage; round++) for (const body of bodies) rows.push(await post(body));
  return rows;
}

async function defaultImages(count: number): Promise<string[]> {
  const names = (await readdir(TRAIN_IMAGES)).filter((name) => name.endsWith(".png")).sort();
  return names.slice(0, count).map((name) => path.join(TRAIN_IMAGES, name));
}

interface BenchServer {
  readonly url: string;
  readonly pid: number;
  readonly executionProvider: string;
  stop(): Promise<void>;
}

/** Starts the real server on a free port and waits for "ready" (models loaded and warmed up). */
function startServer(env: Record<string, string>): Promise<BenchServer> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", SERVER_ENTRY], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: "0", ...env },
    // The server logs a line per request; only the start-up lines matter here.
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  return new Promise((resolve, reject) => {
    let port: number | undefined;
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let entry: { msg?: string; level?: string; port?: number; executionProvider?: string; error?: string };
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg === "listening") port = entry.port;
      if (entry.msg === "ready" && port !== undefined) {
        resolve({
          url: `http://127.0.0.1:${port}`,
          pid: child.pid!,
          executionProvider: entry.executionProvider ?? "unknown",
          stop,
        });
      }
      if (entry.level === "error") reject(new Error(`the model server failed: ${entry.msg}: ${entry.error}`));
    });
    void exited.then(() => reject(new Error("the model server exited before it was ready")));
  });
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
