/**
 * `npm run validate-models`: runs every profile of the bundled (or given) model directory on the held-out
 * split with the real runtime, scores it with the competition metric and records the scores in the manifest
 * (`profiles.<name>.validation`). With `--tune`, each profile first gets its own post-processing tuned on the
 * same split (`profiles.<name>.postprocess`: fusion IoU, mask threshold, kept fraction, per-type score
 * thresholds and minimum areas): fusing TTA variants and members changes the score scale, so the
 * single-model thresholds from training are not right for `accurate`. Run it after export.py; it prints the
 * figures for the README.
 *
 * Without `--tune`, each profile is scored through the segmenter itself (the runtime's path: masks only for
 * the cells kept) with the manifest's thresholds. `--profile NAME` (repeatable) limits the run to those profiles.
 * `--float32` scores the float32 detectors and mask heads on the CPU, not the int8 ones, and only prints the
 * scores: the manifest records what the CPU runs by default.
 *
 *   npm run validate-models -- [--model-dir DIR] [--tune] [--profile fast]
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
import { PROFILES, type Profile } from "../core/schemas/manifest";
import type { Instance } from "../core/types";
import { BUNDLED_MODEL_DIR, loadModels, readManifest } from "../inference/model-store";

const REPO_ROOT = path.resolve(import.meta.dirname, "..");
const TRAIN = path.resolve(REPO_ROOT, "..", "shared", "data", "sartorius", "train");
const { values } = parseArgs({
  options: {
    "model-dir": { type: "string", default: BUNDLED_MODEL_DIR },
    tune: { type: "boolean", default: false },
    profile: { type: "string", multiple: true },
    // Scores the float32 detector and mask head on the CPU, not the int8 ones.
    float32: { type: "boolean", default: false },
  },
});
const modelDir = values["model-dir"]!;
if (values.float32 && values.tune) throw new Error("--tune tunes what the CPU runs by default: leave out --float32");
const unknown = (values.profile ?? []).filter((p) => !(PROFILES as readonly string[]).includes(p));
if (unknown.length) throw new Error(`unknown profile ${unknown.join(", ")}: the profiles are ${PROFILES.join(", ")}`);
const profiles = values.profile?.length ? (values.profile as Profile[]) : [...PROFILES];

const manifest = await readManifest(modelDir);
if (!manifest.validationSplit) throw new Error(`${modelDir}/manifest.json names no validationSplit`);
const ids = (await readFile(path.join(REPO_ROOT, manifest.validationSplit), "utf8")).split(/\r?\n/).filter(Boolean);
const truth = parseTrainingCsv(await readFile(path.join(TRAIN, "train.csv")));
for (const id of [...truth.keys()]) if (!ids.includes(id)) truth.delete(id);

const raw = JSON.parse(await readFile(path.join(modelDir, "manifest.json"), "utf8"));
if (values.tune) for (const profile of profiles) delete raw.profiles[profile].postprocess;
const { segmenters } = await loadModels({ modelDir, profiles, float32: values.float32 });

for (const profile of profiles) {
  const segmenter = segmenters[profile]!;
  if (!values.tune) {
    // The runtime's own path (masks only for the cells kept), with the manifest's thresholds.
    const predictions: { id: string; instances: Instance[] }[] = [];
    let inferenceMs = 0;
    for (const id of ids) {
      const { instances, timings } = await segmenter.segment(
        await decodeImage(await readFile(path.join(TRAIN, "images", `${id}.png`))),
      );
      inferenceMs += timings.inferenceMs;
      predictions.push({ id, instances });
    }
    record(profile, predictions, inferenceMs);
    continue;
  }
  // Segmenter.segment gives what detectSources + fusion + detectionsToInstances give: running the members
  // once, with every mask, serves tuning (fusion IoU included) and scoring alike.
  const samples: (FusionTuningSample & { id: string })[] = [];
  let inferenceMs = 0;
  for (const id of ids) {
    const image = await decodeImage(await readFile(path.join(TRAIN, "images", `${id}.png`)));
    const { sources, timings } = await segmenter.detectSources(image);
    inferenceMs += timings.inferenceMs;
    const truthMasks = truth.get(id)!.annotations.map((rle) => decodeKaggleRle(rle, image.width, image.height));
    samples.push({ id, sources, width: image.width, height: image.height, truth: truthMasks });
  }
  const tuned = tuneFusion(samples, manifest.postprocess);
  const { postprocess } = tuned;
  raw.profiles[profile].postprocess = postprocess;
  console.log(`${profile}: tuned ${JSON.stringify(postprocess)}`);
  const predictions = samples.map(({ id, sources, width, height }) => ({
    id,
    instances: detectionsToInstances(fuseDetections(sources, postprocess.fusionIou), width, height, postprocess),
  }));
  record(profile, predictions, inferenceMs);
}

/** Scores a profile's predictions with the competition metric, prints the figures and records them in the manifest. */
function record(profile: Profile, predictions: { id: string; instances: Instance[] }[], inferenceMs: number): void {
  const report = evaluateSubmission(truth, parseSubmissionCsv(formatSubmissionCsv(predictions)));
  console.log(`\n${profile}: ${(inferenceMs / ids.length / 1000).toFixed(2)} s inference per image`);
  for (const line of formatEvaluationReport(report)) console.log(line);
  raw.profiles[profile].validation = {
    map: Number(report.overall.toFixed(4)),
    mapPerType: Object.fromEntries(
      Object.entries(report.perCellType).map(([type, { map }]) => [type, Number(map.toFixed(4))]),
    ),
    images: report.images,
  };
}
if (values.tune) {
  // The better profile on validation serves requests and commands that name none.
  raw.defaultProfile = PROFILES.reduce((best, profile) =>
    (raw.profiles[profile].validation?.map ?? 0) > (raw.profiles[best].validation?.map ?? 0) ? profile : best,
  );
  console.log(`default profile: ${raw.defaultProfile}`);
}
// The manifest records what the CPU runs by default; float32 scores are printed only.
if (!values.float32) {
  await writeFile(path.join(modelDir, "manifest.json"), `${JSON.stringify(raw, null, 2)}\n`);
  await readManifest(modelDir); // the result must still be a valid manifest
}
