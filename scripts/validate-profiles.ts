/**
 * `npm run validate-models`: runs every profile of the bundled (or given) model directory on the held-out
 * split with the real runtime, scores it with the competition metric and records the scores in the manifest
 * (`profiles.<name>.validation`). With `--tune`, each profile first gets its own post-processing tuned on the
 * same split (`profiles.<name>.postprocess`: fusion IoU, mask threshold, kept fraction, per-type score
 * thresholds and minimum areas): fusing TTA variants and members changes the score scale, so the
 * single-model thresholds from training are not right for `accurate`. Run it after export.py; it prints the
 * figures for the README.
 *
 *   npm run validate-models -- [--model-dir DIR] [--tune]
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { decodeImage } from "../core/image/decode";
import { formatSubmissionCsv, parseSubmissionCsv, parseTrainingCsv } from "../core/kaggle/csv";
import { decodeKaggleRle } from "../core/masks/kaggle-rle";
import { evaluateSubmission, formatEvaluationReport } from "../core/metric/evaluate";
import { detectionsToInstances } from "../core/postprocess/instances";
import { fuseDetections } from "../core/postprocess/fusion";
import { tuneFusion, type FusionTuningSample } from "../core/postprocess/tune";
import { PROFILES } from "../core/schemas/manifest";
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
if (values.tune) for (const profile of PROFILES) delete raw.profiles[profile].postprocess;
const { segmenters } = await loadModels({ modelDir, profiles: [...PROFILES] });

for (const profile of PROFILES) {
  const segmenter = segmenters[profile]!;
  // Segmenter.segment is detectSources + fusion + detectionsToInstances: running the members once serves
  // tuning (fusion IoU included) and scoring alike.
  const samples: (FusionTuningSample & { id: string })[] = [];
  let inferenceMs = 0;
  for (const id of ids) {
    const image = await decodeImage(await readFile(path.join(TRAIN, "images", `${id}.png`)));
    const { sources, timings } = await segmenter.detectSources(image);
    inferenceMs += timings.inferenceMs;
    const truthMasks = truth.get(id)!.annotations.map((rle) => decodeKaggleRle(rle, image.width, image.height));
    samples.push({ id, sources, width: image.width, height: image.height, truth: truthMasks });
  }
  let postprocess = values.tune ? manifest.postprocess : segmenter.postprocess;
  if (values.tune) {
    const tuned = tuneFusion(samples, postprocess);
    postprocess = tuned.postprocess;
    raw.profiles[profile].postprocess = postprocess;
    console.log(`${profile}: tuned ${JSON.stringify(postprocess)}`);
  }
  const submission = formatSubmissionCsv(
    samples.map(({ id, sources, width, height }) => ({
      id,
      instances: detectionsToInstances(fuseDetections(sources, postprocess.fusionIou), width, height, postprocess),
    })),
  );
  const report = evaluateSubmission(truth, parseSubmissionCsv(submission));
  console.log(`\n${profile}: ${(inferenceMs / ids.length / 1000).toFixed(2)} s inference per image`);
  for (const line of formatEvaluationReport(report)) console.log(line);
  raw.profiles[profile].validation = {
    map: Number(report.overall.toFixed(4)),
    mapPerType: Object.fromEntries(Object.entries(report.perCellType).map(([type, { map }]) => [type, Number(map.toFixed(4))])),
    images: report.images,
  };
}
if (values.tune) {
  // The better profile on validation serves requests and commands that name none.
  raw.defaultProfile = PROFILES.reduce((best, profile) => (raw.profiles[profile].validation.map > raw.profiles[best].validation.map ? profile : best));
  console.log(`default profile: ${raw.defaultProfile}`);
}
await writeFile(path.join(modelDir, "manifest.json"), `${JSON.stringify(raw, null, 2)}\n`);
await readManifest(modelDir); // the result must still be a valid manifest
