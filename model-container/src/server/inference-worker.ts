/**
 * An inference worker thread (started by inference-pool.ts): loads and verifies the models, warms each
 * profile up, then segments the images it is sent, one at a time, until told to close.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { Profile } from "../../../core/schemas/manifest";
import type { GrayImage } from "../../../core/types";
import { loadModels, type LoadedModels } from "../../../inference/model-store";
import {
  serializeError,
  withOverrides,
  type WarmUpTimes,
  type WorkerInit,
  type WorkerReply,
  type WorkerRequest,
} from "./inference-pool";

const port = parentPort!;
const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

/**
 * Runs each profile once on a synthetic image, so the first real request does not pay for session
 * initialisation (memory arenas, kernel selection). 256x256 is enough for that and cheap on a CPU; CUDA
 * still tunes convolutions once per new input shape, which no single warm-up size can avoid.
 */
async function warmUp(models: LoadedModels, profiles: readonly Profile[]): Promise<WarmUpTimes> {
  const size = 256;
  const pixels = new Uint8Array(size * size);
  // Bright discs on a gradient: something for the detector to find, so the mask head runs too.
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const disc = ((x % 32) - 16) ** 2 + ((y % 32) - 16) ** 2 < 64 ? 120 : 0;
      pixels[y * size + x] = Math.min(255, 60 + ((x + y) >> 3) + disc);
    }
  }
  const image: GrayImage = { width: size, height: size, bitDepth: 8, pixels };
  const times: WarmUpTimes = {};
  for (const profile of profiles) {
    const started = performance.now();
    await models.segmenters[profile]!.segment(image);
    times[profile] = Math.round(performance.now() - started);
  }
  return times;
}

async function start(init: WorkerInit): Promise<void> {
  let models: LoadedModels;
  try {
    models = await loadModels(init.load);
    const warmUpMs = await warmUp(models, init.load.profiles);
    reply({
      type: "ready",
      manifest: models.manifest,
      manifestSha256: models.manifestSha256,
      members: models.members.map((m) => ({
        name: m.name,
        executionProvider: m.executionProvider,
        detectorPrecision: m.detectorPrecision,
        masksPrecision: m.masksPrecision,
      })),
      warmUpMs,
    });
  } catch (error) {
    reply({ type: "failed", error: serializeError(error) });
    return;
  }

  // The pool sends one job at a time, and close only once idle; awaiting the current job anyway keeps a
  // session from being released under a running inference.
  let current: Promise<unknown> = Promise.resolve();
  port.on("message", (request: WorkerRequest) => {
    current = current.then(() => handle(request));
  });

  async function handle(request: WorkerRequest): Promise<void> {
    if (request.type === "close") {
      await Promise.all(models.members.map((member) => member.release()));
      reply({ type: "closed" });
      port.close();
      return;
    }
    try {
      const segmenter = models.segmenters[request.profile];
      if (segmenter === undefined) throw new Error(`profile "${request.profile}" is not loaded in this worker`);
      const { instances, timings } = await segmenter.segment(
        request.image,
        withOverrides(segmenter.postprocess, request.thresholds),
      );
      reply({ type: "result", id: request.id, instances, timings });
    } catch (error) {
      reply({ type: "error", id: request.id, error: serializeError(error) });
    }
  }
}

void start(workerData as WorkerInit);
