/**
 * `npm run validate-models`: segments the held-out split with every profile of the bundled (or given) model
 * directory, using the real runtime, scores it with the competition metric and records the scores in the
 * manifest (`profiles.<name>.validation`). With `--tune`, each profile first gets its own thresholds tuned
 * on the same split (`profiles.<name>.postprocess`): fusing TTA variants and members changes the score
 * scale, so the single-model thresholds from training are not right for `accurate`. Run it after
 * export.py; it prints the figures for the README.
 *
 *   npm run validate-models -- [--model-dir DIR] [--tune]
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { parseSubmissionCsv, parseTrainingCsv } from "../core/kaggle/csv";
import { evaluateSubmission, formatEvaluationReport } from "../core/metric/evaluate";
import { decodeImage } from "../core/image/decode";
import { decodeKaggleRle } from "../core/masks/kaggle-rle";
import { tuneThresholds, type TuningSample } from "../core/postprocess/tune";
import { PROFILES, type Profile } from "../core/schemas/manifest";
import { segmentFiles } from "../cli/segment-files";
import { BUNDLED_MODEL_DIR, loadModels, readManifest } from "../model-container/src/model-store";

const REPO_ROOT = path.resolve(import.meta.dirname, "..");
const TRAIN = path.resolve(REPO_ROOT, "..", "shared", "data", "sartorius", "train");
const { values } = parseArgs({
  options: { "model-dir": { type: "string", default: BUNDLED_MODEL_DIR }, tune: { type: "boolean", default: false } },
});
const modelDir = values["model-dir"]!;

const manifest = await readManifest(modelDir);
if (!manifest.validationSplit) throw new Error(`${modelDir}/manifest.json names no validationSplit`);
const ids = (await readFile(path.join(REPO_ROOT, manifest.validationSplit), "utf8")).split(/\r?\n/).filter(Boolean);
const truth = parseTrainingCsv(await readFile(path.join(TRAIN, "train.csv")));
for (const id of [...truth.keys()]) if (!ids.includes(id)) truth.delete(id);

const raw = JSON.parse(await readFile(path.join(modelDir, "manifest.json"), "utf8"));
const writeManifest = () => writeFile(path.join(modelDir, "manifest.json"), `${JSON.stringify(raw, null, 2)}\n`);

/** Tunes a profile's thresholds on the fused detections of every held-out image. */
async function tune(profile: Profile): Promise<void> {
  delete raw.profiles[profile].postprocess;
  await writeManifest();
  const segmenter = (await loadModels({ modelDir, profiles: [profile] })).segmenters[profile]!;
  const samples: TuningSample[] = [];
  for (const id of ids) {
    const image = await decodeImage(await readFile(path.join(TRAIN, "images", `${id}.png`)));
    const { detections } = await segmenter.detect(image);
    const truthMasks = truth.get(id)!.annotations.map((rle) => decodeKaggleRle(rle, image.width, image.height));
    samples.push({ detections, width: image.width, height: image.height, truth: truthMasks });
  }
  const tuned = tuneThresholds(samples, segmenter.postprocess);
  console.log(`${profile}: tuned ${JSON.stringify(tuned.postprocess)} (mAP ${tuned.map.toFixed(4)} on the tuning split)`);
  raw.profiles[profile].postprocess = tuned.postprocess;
  await writeManifest();
}

for (const profile of PROFILES) {
  if (values.tune) await tune(profile);
  const out = await mkdtemp(path.join(tmpdir(), `cellseg-validate-${profile}-`));
  const summary = await segmentFiles({
    inputs: ids.map((id) => path.join(TRAIN, "images", `${id}.png`)),
    outDir: out,
    profile,
    allPages: false,
    overlayStyle: "outline",
    modelDir,
    executionProvider: "cpu",
  });
  const report = evaluateSubmission(truth, parseSubmissionCsv(await readFile(path.join(out, "submission.csv"))));
  await rm(out, { recursive: true, force: true });
  const inference = summary.images.reduce((sum, image) => sum + image.timings.inferenceMs, 0) / summary.images.length;
  console.log(`\n${profile}: ${(inference / 1000).toFixed(2)} s inference per image`);
  for (const line of formatEvaluationReport(report)) console.log(line);
  raw.profiles[profile].validation = {
    map: Number(report.overall.toFixed(4)),
    mapPerType: Object.fromEntries(Object.entries(report.perCellType).map(([type, { map }]) => [type, Number(map.toFixed(4))])),
    images: report.images,
  };
}
await writeManifest();
await readManifest(modelDir); // the result must still be a valid manifest
