/**
 * Runs the segmenters in worker threads. onnxruntime-node's `session.run` is a synchronous native call
 * (wrapped in setImmediate), and normalisation and post-processing are plain JavaScript: on the main
 * thread, one inference would stall every other request, `/ping` (which SageMaker expects within 2 s)
 * and the request deadlines for its whole duration. Here the main thread only does HTTP, decoding (in
 * libuv's pool) and encoding, and stays responsive while the workers compute.
 */
import { Worker } from "node:worker_threads";
import {
  CellsegInputError,
  ImageTooLargeError,
  InvalidFormatError,
  InvalidImageError,
  ModelUnavailableError,
} from "../../../core/errors";
import type { ThresholdOverrides } from "../../../core/schemas/endpoint";
import type { Manifest, Postprocess, Profile } from "../../../core/schemas/manifest";
import type { Segmentation } from "../../../core/segmentation/segmenter";
import type { GrayImage, Instance } from "../../../core/types";
import type { LoadOptions } from "../../../inference/model-store";
import type { GraphPrecision } from "../../../inference/types";

/** A loaded member as `/info` describes it: where it runs, and which of its detectors and mask heads. */
export interface ServedMember {
  readonly name: string;
  readonly executionProvider: "cuda" | "cpu";
  readonly detectorPrecision: GraphPrecision;
  readonly masksPrecision: GraphPrecision;
}

/** What the HTTP side needs to know about the loaded models, and the one thing it asks of them. */
export interface ServedModels {
  readonly manifest: Manifest;
  readonly manifestSha256: string;
  /** The profiles loaded, in the order they were asked for. */
  readonly profiles: readonly Profile[];
  readonly members: readonly ServedMember[];
  segment(image: GrayImage, profile: Profile, thresholds?: ThresholdOverrides): Promise<Segmentation>;
}

/** Milliseconds the warm-up of each profile took. */
export type WarmUpTimes = Partial<Record<Profile, number>>;

// --- Messages between the pool and its workers (structured-cloned) ----------------------------------

export interface WorkerInit {
  readonly load: LoadOptions;
}

export type WorkerRequest =
  | {
      readonly type: "segment";
      readonly id: number;
      readonly image: GrayImage;
      readonly profile: Profile;
      readonly thresholds?: ThresholdOverrides;
    }
  | { readonly type: "close" };

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

export type WorkerReply =
  | {
      readonly type: "ready";
      readonly manifest: Manifest;
      readonly manifestSha256: string;
      readonly members: ServedMember[];
      readonly warmUpMs: WarmUpTimes;
    }
  | { readonly type: "failed"; readonly error: SerializedError }
  | {
      readonly type: "result";
      readonly id: number;
      readonly instances: Instance[];
      readonly timings: Segmentation["timings"];
    }
  | { readonly type: "error"; readonly id: number; readonly error: SerializedError }
  | { readonly type: "closed" };

/**
 * A profile's post-processing with a request's overrides applied (the endpoint schema has bounded them).
 * The fusion IoU and the kept fraction are not overridable: the thresholds were tuned after them.
 *
 * @example
 * withOverrides(segmenter.postprocess, { scoreThresholds: { astro: 0.3 } }).scoreThresholds.astro; // 0.3
 */
export function withOverrides(base: Postprocess, overrides: ThresholdOverrides | undefined): Postprocess {
  if (overrides === undefined) return base;
  const defined = <T extends object>(values: T | undefined) =>
    Object.fromEntries(Object.entries(values ?? {}).filter(([, value]) => value !== undefined)) as Partial<T>;
  return {
    scoreThresholds: { ...base.scoreThresholds, ...defined(overrides.scoreThresholds) },
    minAreas: { ...base.minAreas, ...defined(overrides.minAreas) },
    maskThreshold: overrides.maskThreshold ?? base.maskThreshold,
    fusionIou: base.fusionIou,
    minKeptFraction: base.minKeptFraction,
  };
}

/** An error as it can cross the thread boundary. */
export function serializeError(error: unknown): SerializedError {
  return error instanceof Error
    ? { name: error.name, message: error.message, stack: error.stack }
    : { name: "Error", message: String(error) };
}

/** The domain errors keep their class across the boundary, so errors.ts maps them to the same status. */
const ERROR_CLASSES: Record<string, new (message: string) => Error> = {
  CellsegInputError,
  InvalidImageError,
  ImageTooLargeError,
  InvalidFormatError,
  ModelUnavailableError,
};

function deserializeError(serialized: SerializedError): Error {
  const Class = ERROR_CLASSES[serialized.name];
  const error = Class
    ? new Class(serialized.message)
    : Object.assign(new Error(serialized.message), { name: serialized.name });
  if (serialized.stack) error.stack = serialized.stack;
  return error;
}

export interface InferencePoolOptions {
  /** Workers, each with its own sessions: as many as inferences may run at once. */
  readonly size: number;
  readonly load: LoadOptions;
  /** Called when a worker dies: the pool cannot serve any more (the caller should exit). */
  readonly onFatal?: (error: Error) => void;
}

interface PoolWorker {
  readonly worker: Worker;
  job?: {
    readonly id: number;
    readonly resolve: (value: Segmentation) => void;
    readonly reject: (error: Error) => void;
  };
}

/**
 * A fixed set of inference workers behind the {@link ServedModels} interface. Callers bound their own
 * concurrency to `size` (the InferenceQueue does); a call beyond that is a bug and throws.
 *
 * @example
 * ```ts
 * const { pool, warmUpMs } = await InferencePool.start({ size: 1, load: { profiles: ["fast"] } });
 * const { instances } = await pool.segment(image, "fast");
 * await pool.close();
 * ```
 */
export class InferencePool implements ServedModels {
  private nextId = 0;
  private closing = false;

  private constructor(
    private readonly workers: PoolWorker[],
    private readonly ready: Extract<WorkerReply, { type: "ready" }>,
    readonly profiles: readonly Profile[],
  ) {}

  get manifest(): Manifest {
    return this.ready.manifest;
  }

  get manifestSha256(): string {
    return this.ready.manifestSha256;
  }

  get members(): ServedModels["members"] {
    return this.ready.members;
  }

  /**
   * Starts the workers; each loads and verifies the models and warms every profile up.
   * @throws ModelUnavailableError (or the worker's error) when a worker cannot load the models.
   */
  static async start(options: InferencePoolOptions): Promise<{ pool: InferencePool; warmUpMs: WarmUpTimes }> {
    if (!Number.isInteger(options.size) || options.size < 1)
      throw new RangeError(`size must be a positive integer, got ${options.size}`);
    const workers: PoolWorker[] = [];
    let pool: InferencePool | undefined;
    const readies = Array.from({ length: options.size }, () => {
      const entry: PoolWorker = { worker: spawnWorker({ load: options.load }) };
      workers.push(entry);
      return new Promise<Extract<WorkerReply, { type: "ready" }>>((resolve, reject) => {
        entry.worker.on("message", (reply: WorkerReply) => {
          if (reply.type === "ready") resolve(reply);
          else if (reply.type === "failed") reject(deserializeError(reply.error));
          else pool?.receive(entry, reply);
        });
        entry.worker.once("error", (error) => {
          reject(error);
          pool?.fail(entry, error);
        });
        entry.worker.once("exit", (code) => {
          const error = new Error(`inference worker exited with code ${code}`);
          reject(error);
          pool?.fail(entry, error, options.onFatal);
        });
      });
    });
    let replies: Extract<WorkerReply, { type: "ready" }>[];
    try {
      replies = await Promise.all(readies);
    } catch (error) {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      throw error;
    }
    pool = new InferencePool(workers, replies[0], options.load.profiles);
    return { pool, warmUpMs: replies[0].warmUpMs };
  }

  segment(image: GrayImage, profile: Profile, thresholds?: ThresholdOverrides): Promise<Segmentation> {
    const free = this.workers.find((w) => w.job === undefined);
    if (this.closing) return Promise.reject(new ModelUnavailableError("the inference workers are shutting down"));
    if (free === undefined) return Promise.reject(new Error(`all ${this.workers.length} inference workers are busy`));
    // A copy with its own buffer, moved (not copied again) to the worker.
    const pixels = image.pixels.slice();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      free.job = { id, resolve, reject };
      const request: WorkerRequest = { type: "segment", id, image: { ...image, pixels }, profile, thresholds };
      free.worker.postMessage(request, [pixels.buffer]);
    });
  }

  /** Releases every session and stops the workers. Waits for running jobs to end first. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.workers.map(async ({ worker }) => {
        const closed = new Promise<void>((resolve) => {
          worker.on("message", (reply: WorkerReply) => reply.type === "closed" && resolve());
          worker.once("exit", () => resolve());
        });
        worker.postMessage({ type: "close" } satisfies WorkerRequest);
        await closed;
        await worker.terminate();
      }),
    );
  }

  private receive(entry: PoolWorker, reply: WorkerReply): void {
    const job = entry.job;
    if (job === undefined || !("id" in reply) || reply.id !== job.id) return;
    entry.job = undefined;
    if (reply.type === "result") job.resolve({ instances: reply.instances, timings: reply.timings });
    else if (reply.type === "error") job.reject(deserializeError(reply.error));
  }

  private fail(entry: PoolWorker, error: Error, onFatal?: (error: Error) => void): void {
    entry.job?.reject(error);
    entry.job = undefined;
    if (!this.closing) onFatal?.(error);
  }
}

/**
 * Node 20 does not run `--import tsx` for a worker's own entry module (ERR_UNKNOWN_FILE_EXTENSION), so
 * the TypeScript entry is loaded through tsx's API from a small bootstrap.
 */
function spawnWorker(workerData: WorkerInit): Worker {
  const entry = new URL("./inference-worker.ts", import.meta.url);
  const tsx = import.meta.resolve("tsx/esm/api");
  const bootstrap =
    `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return ` +
    `import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}
