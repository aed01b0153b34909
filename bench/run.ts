/**
 * `npm run bench [-- --images 12 --batch 100 --server-seconds 20 --burst-seconds 30 --stack-images 12]`: per-image
 * stage times of both profiles on held-out images, RLE encoding throughput, peak memory while the CLI segments
 * a folder of `--batch` images, the model server's overhead, throughput and memory under a burst
 * (`--burst-seconds 300` for the 5-minute figure), and the local stack end to end on `--stack-images` images
 * (0 skips a part). `--measure-image ID` (a dense training image; '' skips it) times what measuring adds to an
 * image's CPU time outside inference. `--baseline-model-dir DIR` also times both profiles with another model
 * directory (the previous model, say) on the same images right after each profile, and prints the time ratios.
 * Figures are printed and written to bench/out/bench.json; compare them as ratios within one run.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { parseArgs } from "node:util";
import { decodeImage } from "../core/image/decode";
import { encodeCocoRle } from "../core/masks/coco-rle";
import { encodeKaggleRle } from "../core/masks/kaggle-rle";
import { renderImageResults } from "../core/outputs/image-results";
import { PROFILES, type Profile } from "../core/schemas/manifest";
import type { BinaryMask } from "../core/types";
import { loadModels } from "../inference/model-store";
import { benchLocalStack } from "./local-stack";
import { benchMeasurements } from "./measurements";
import { benchModelServer } from "./model-server";

const REPO_ROOT = path.resolve(import.meta.dirname, "..");
const SARTORIUS = path.resolve(REPO_ROOT, "..", "shared", "data", "sartorius");
const { values: args } = parseArgs({
  options: {
    images: { type: "string", default: "12" },
    batch: { type: "string", default: "100" },
    "server-seconds": { type: "string", default: "20" },
    "burst-seconds": { type: "string", default: "30" },
    "stack-images": { type: "string", default: "12" },
    "baseline-model-dir": { type: "string" },
    "measure-image": { type: "string", default: "d164e96bb7a9" },
  },
});

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function heldOutImages(count: number): Promise<{ id: string; cellType: string }[]> {
  const types = new Map(
    (await readFile(path.join(SARTORIUS, "train", "images.csv"), "utf8"))
      .split(/\r?\n/)
      .slice(1)
      .map((line) => line.split(","))
      .map(([id, cellType]) => [id, cellType] as const),
  );
  const val = (await readFile(path.join(REPO_ROOT, "training", "splits", "val.txt"), "utf8"))
    .split(/\r?\n/)
    .filter(Boolean);
  // Round-robin over cell types, so dense shsy5y images weigh in as much as sparse cort ones.
  const byType = new Map<string, string[]>();
  for (const id of val) byType.set(types.get(id)!, [...(byType.get(types.get(id)!) ?? []), id]);
  const picked: { id: string; cellType: string }[] = [];
  for (let i = 0; picked.length < count && i < val.length; i++) {
    for (const [cellType, ids] of byType) if (ids[i] && picked.length < count) picked.push({ id: ids[i], cellType });
  }
  return picked;
}

async function profileStages(profile: Profile, images: { id: string; cellType: string }[], modelDir?: string) {
  const segmenter = (await loadModels({ profiles: [profile], ...(modelDir ? { modelDir } : {}) })).segmenters[profile]!;
  const read = (id: string) => readFile(path.join(SARTORIUS, "train", "images", `${id}.png`));
  // The first image warms the session up (memory arenas, kernels); it is not counted.
  const [warmup, ...measured] = images;
  await segmenter.segment(await decodeImage(await read(warmup.id)));
  const rows: Record<string, number>[] = [];
  const masks: BinaryMask[] = [];
  for (const { id } of measured) {
    const bytes = await read(id);
    const t0 = performance.now();
    const image = await decodeImage(bytes);
    const decodeMs = performance.now() - t0;
    const { instances, timings } = await segmenter.segment(image);
    const t1 = performance.now();
    await renderImageResults(id, `${id}.png`, image, instances, { overlayStyle: "outline" });
    const encodeMs = performance.now() - t1;
    masks.push(...instances.map((i) => i.mask));
    rows.push({ decodeMs, ...timings, encodeMs, cells: instances.length });
  }
  const stage = (key: string) => mean(rows.map((r) => r[key]));
  const total = ["decodeMs", "normalizeMs", "inferenceMs", "postprocessMs", "encodeMs"].reduce(
    (sum, k) => sum + stage(k),
    0,
  );
  return {
    profile,
    images: rows.length,
    perImageMs: {
      decode: stage("decodeMs"),
      normalize: stage("normalizeMs"),
      inference: stage("inferenceMs"),
      postprocess: stage("postprocessMs"),
      encode: stage("encodeMs"),
      total,
    },
    nonInferenceShare: (total - stage("inferenceMs")) / total,
    cellsPerImage: stage("cells"),
    masks,
  };
}

function rleThroughput(masks: BinaryMask[]) {
  const rounds = Math.max(1, Math.ceil(20_000 / Math.max(masks.length, 1)));
  const time = (encode: (m: BinaryMask) => unknown) => {
    const t0 = performance.now();
    for (let r = 0; r < rounds; r++) for (const m of masks) encode(m);
    return (masks.length * rounds) / ((performance.now() - t0) / 1000);
  };
  return {
    masks: masks.length * rounds,
    kaggleMasksPerSecond: time(encodeKaggleRle),
    cocoMasksPerSecond: time(encodeCocoRle),
  };
}

/** Peak RSS of the real CLI segmenting a folder of `count` images (symlinks to ../shared, nothing copied). */
async function batchMemory(count: number, modelDir?: string) {
  const dir = await mkdtemp(path.join(tmpdir(), "cellseg-bench-"));
  const input = path.join(dir, "in");
  await mkdir(input);
  const ids = (await readFile(path.join(SARTORIUS, "train", "images.csv"), "utf8"))
    .split(/\r?\n/)
    .slice(1, count + 1)
    .map((l) => l.split(",")[0]);
  await Promise.all(
    ids.map((id) => symlink(path.join(SARTORIUS, "train", "images", `${id}.png`), path.join(input, `${id}.png`))),
  );
  const t0 = performance.now();
  const { stderr } = await promisify(execFile)(
    "/usr/bin/time",
    [
      "-f",
      "maxrss_kb=%M",
      process.execPath,
      path.join(REPO_ROOT, "bin", "cellseg.js"),
      "segment",
      input,
      "--out",
      path.join(dir, "out"),
      "--profile",
      "fast",
      ...(modelDir ? ["--model-dir", modelDir] : []),
    ],
    { maxBuffer: 64 << 20 },
  );
  const seconds = (performance.now() - t0) / 1000;
  await rm(dir, { recursive: true, force: true });
  const peak = Number(/maxrss_kb=(\d+)/.exec(stderr)?.[1]);
  return { images: ids.length, seconds, secondsPerImage: seconds / ids.length, peakRssMiB: peak / 1024 };
}

const images = await heldOutImages(Number(args.images) + 1);
console.log(`cellseg bench: ${cpus().length} x ${cpus()[0].model}, node ${process.version}`);
console.log(
  `held-out images: ${images
    .slice(1)
    .map((i) => i.cellType)
    .join(", ")} (first one warms up)`,
);
const results: Record<string, unknown> = {};
let masks: BinaryMask[] = [];
const baseline = args["baseline-model-dir"];
for (const profile of Number(args.images) > 0 ? PROFILES : []) {
  const { masks: found, ...figures } = await profileStages(profile, images);
  masks = masks.length ? masks : found;
  results[profile] = figures;
  if (baseline) {
    const { masks: _, ...before } = await profileStages(profile, images, baseline);
    const ratio = figures.perImageMs.total / before.perImageMs.total;
    results[`${profile}Baseline`] = { modelDir: baseline, ...before, totalRatio: ratio };
    console.log(
      `${profile.padEnd(8)} baseline (${baseline}): ` +
        `inference ${ms(before.perImageMs.inference)}, total ${ms(before.perImageMs.total)}; ` +
        `this model / baseline = ${ratio.toFixed(3)} ` +
        `(inference ${(figures.perImageMs.inference / before.perImageMs.inference).toFixed(3)})`,
    );
  }
  const p = figures.perImageMs;
  console.log(
    `${profile.padEnd(8)} per image: decode ${ms(p.decode)}, normalise ${ms(p.normalize)}, ` +
      `inference ${ms(p.inference)}, post-process ${ms(p.postprocess)}, encode ${ms(p.encode)}; ` +
      `total ${ms(p.total)}; non-inference ${(figures.nonInferenceShare * 100).toFixed(1)} %; ` +
      `${figures.cellsPerImage.toFixed(0)} cells/image`,
  );
}
if (args["measure-image"] !== "") {
  const { segmenters } = await loadModels({ profiles: ["fast"] });
  const measuring = await benchMeasurements(SARTORIUS, args["measure-image"]!, segmenters.fast!);
  results.measurements = measuring;
  const percent = (share: number) => `${(share * 100).toFixed(1)} %`;
  console.log(
    `${measuring.imageId}, ${measuring.cells} cells: ` +
      `measuring ${ms(measuring.measureMs)} CPU (+${percent(measuring.measureShare)}), ` +
      `outlines ${ms(measuring.outlinesMs)} (+${percent(measuring.outlinesShare)}), ` +
      `over the ${ms(measuring.beforeMs)} of CPU outside inference without them ` +
      `(decode ${ms(measuring.decodeMs)}, normalise + post-process ${ms(measuring.modelStagesMs)}, ` +
      `every result format ${ms(measuring.renderMs)} with them)`,
  );
}
if (masks.length > 0) {
  results.rle = rleThroughput(masks);
  console.log(
    "RLE encoding: Kaggle " +
      `${(results.rle as { kaggleMasksPerSecond: number }).kaggleMasksPerSecond.toFixed(0)} masks/s, ` +
      `COCO ${(results.rle as { cocoMasksPerSecond: number }).cocoMasksPerSecond.toFixed(0)} masks/s`,
  );
}
if (Number(args.batch) > 0) {
  const batch = await batchMemory(Number(args.batch));
  results.batch = batch;
  console.log(
    `CLI batch of ${batch.images} images (fast): ${batch.secondsPerImage.toFixed(2)} s/image, ` +
      `peak RSS ${batch.peakRssMiB.toFixed(0)} MiB`,
  );
  if (baseline) {
    const before = await batchMemory(Number(args.batch), baseline);
    results.batchBaseline = {
      modelDir: baseline,
      ...before,
      secondsRatio: batch.seconds / before.seconds,
      peakRssRatio: batch.peakRssMiB / before.peakRssMiB,
    };
    console.log(
      `CLI batch baseline (${baseline}): ${before.secondsPerImage.toFixed(2)} s/image, ` +
        `peak RSS ${before.peakRssMiB.toFixed(0)} MiB; ` +
        `this model / baseline = ${(batch.seconds / before.seconds).toFixed(3)} (time), ` +
        `${(batch.peakRssMiB / before.peakRssMiB).toFixed(3)} (peak RSS)`,
    );
  }
}
if (Number(args["server-seconds"]) > 0) {
  const server = await benchModelServer({
    profile: "fast",
    throughputSeconds: Number(args["server-seconds"]),
    burstSeconds: Number(args["burst-seconds"]),
  });
  results.modelServer = server;
  const { overhead, throughput, burst } = server;
  console.log(
    `model server (fast, ${server.server.maxConcurrency} worker): bare inference ${ms(server.bareInference.meanMs)}, ` +
      `server time ${ms(overhead.serverMs)} -> overhead ratio ${overhead.serverToBare.toFixed(3)} ` +
      `(client round trip ${overhead.clientToBare.toFixed(3)})`,
  );
  console.log(
    `  ${throughput.connections} connections for ${throughput.seconds} s: ` +
      `${throughput.requestsPerSecond.toFixed(2)} req/s, ` +
      `latency p50 ${ms(throughput.latencyMs.p50)}, p90 ${ms(throughput.latencyMs.p90)}, ` +
      `p99 ${ms(throughput.latencyMs.p99)}`,
  );
  console.log(
    `  burst of ${burst.connections} connections for ${burst.seconds} s: ` +
      `${burst.ok} ok, ${burst.refused503} refused (503), ${burst.otherNon2xx + burst.errors} other; ` +
      `peak RSS ${burst.peakRssMiB.toFixed(0)} MiB ` +
      `(before ${burst.rssBeforeMiB.toFixed(0)}, after ${burst.rssAfterMiB.toFixed(0)})`,
  );
}
if (Number(args["stack-images"]) > 0) {
  // The same images as the profiles' figures (after their warm-up image), so the two compare.
  const ids = (await heldOutImages(Number(args["stack-images"]) + 1)).slice(1);
  const stack = await benchLocalStack(ids.map(({ id }) => path.join(SARTORIUS, "train", "images", `${id}.png`)));
  results.localStack = stack;
  const s = stack.stagesMsPerImage;
  console.log(
    `local stack (API upload -> worker -> model server, fast, ${stack.images} images): ` +
      `${stack.wallSecondsPerImage.toFixed(2)} s/image end to end; ` +
      `pipeline ${ms(stack.pipelineMsPerImage)}/image of which inference ${ms(stack.inferenceMsPerImage)}; ` +
      `overhead ${(stack.overheadShare * 100).toFixed(1)} % ` +
      `(read ${ms(s.readMs!)}, decode ${ms(s.decodeMs!)}, endpoint calls ${ms(s.segmentMs!)}, ` +
      `stitch ${ms(s.stitchMs!)}, render ${ms(s.renderMs!)}, write ${ms(s.writeMs!)})`,
  );
}
await mkdir(path.join(REPO_ROOT, "bench", "out"), { recursive: true });
await writeFile(path.join(REPO_ROOT, "bench", "out", "bench.json"), JSON.stringify(results, null, 2));
