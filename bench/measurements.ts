/**
 * What measuring (the per-cell measurements and the image summary, as CSV rows) and the outlines (GeoJSON)
 * each add to the CPU time an image costs outside inference, on a dense image: the ground truth's cells of
 * a crowded shsy5y image (782 cells) are measured and rendered, and the model's own decode, normalisation
 * and post-processing of the same image complete the CPU time outside inference. CPU time is the
 * process's (every thread), so sharp's encoders count too.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { decodeImage } from "../core/image/decode";
import { parseTrainingCsv } from "../core/kaggle/csv";
import { decodeKaggleRle } from "../core/masks/kaggle-rle";
import { labelMap } from "../core/outputs/label-png";
import { measureCells } from "../core/measurements/cell-measurements";
import { summarizeImage } from "../core/measurements/image-summary";
import { renderImageResults } from "../core/outputs/image-results";
import { measurementRows, summaryRow } from "../core/outputs/measurements-csv";
import { outlinesGeoJson } from "../core/outputs/outlines-geojson";
import type { Segmenter } from "../core/segmentation/segmenter";
import type { CellType, Instance } from "../core/types";
import { maskBox } from "../core/masks/binary-mask";

/** Runs of each timed step; the median is reported. */
const RUNS = 5;

function cpuMs(run: () => unknown): Promise<number> {
  return (async () => {
    const before = process.cpuUsage();
    await run();
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1000;
  })();
}

async function medianCpuMs(run: () => unknown): Promise<number> {
  await run(); // warm-up: compilation is not what an image costs
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await cpuMs(run));
  return times.sort((a, b) => a - b)[RUNS >> 1]!;
}

/**
 * @example
 * const figures = await benchMeasurements(sartoriusDir, "d164e96bb7a9", segmenter);
 */
export async function benchMeasurements(sartorius: string, imageId: string, segmenter: Segmenter) {
  const bytes = await readFile(path.join(sartorius, "train", "images", `${imageId}.png`));
  const truth = parseTrainingCsv(await readFile(path.join(sartorius, "train", "train.csv"))).get(imageId);
  if (truth === undefined) throw new Error(`${imageId} is not in train.csv`);
  const decodeMs = await medianCpuMs(() => decodeImage(bytes));
  const image = await decodeImage(bytes);
  const instances: Instance[] = truth.annotations.map((rle) => {
    const mask = decodeKaggleRle(rle, image.width, image.height);
    return {
      cellType: truth.cellType as CellType,
      score: 1,
      mask,
      box: maskBox(mask),
      area: mask.data.reduce((a, b) => a + b, 0),
    };
  });
  const renderMs = await medianCpuMs(() =>
    renderImageResults(imageId, `${imageId}.png`, image, instances, { overlayStyle: "outline" }),
  );
  // The label map is painted for the label image anyway; measuring and outlining read it.
  const labels = labelMap(instances, image.width, image.height);
  const measureMs = await medianCpuMs(() => {
    const cells = measureCells(image, labels, instances);
    measurementRows(imageId, cells);
    summaryRow(
      { imageId, fileName: `${imageId}.png`, width: image.width, height: image.height, cellType: null },
      summarizeImage(image, cells),
    );
  });
  const outlinesMs = await medianCpuMs(() => JSON.stringify(outlinesGeoJson(labels, image.width, instances)));
  // The model runs last: onnxruntime's threads keep spinning a while after a run, which the process's CPU
  // time of the steps above would count.
  await segmenter.segment(image); // warm-up
  const normalizeAndPostprocess: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const { timings } = await segmenter.segment(image);
    // Both run on the main thread alone: their wall time is their CPU time.
    normalizeAndPostprocess.push(timings.normalizeMs + timings.postprocessMs);
  }
  const modelStagesMs = normalizeAndPostprocess.sort((a, b) => a - b)[RUNS >> 1]!;
  const beforeMs = decodeMs + modelStagesMs + renderMs - measureMs - outlinesMs;
  return {
    imageId,
    cells: instances.length,
    decodeMs,
    modelStagesMs,
    renderMs,
    measureMs,
    outlinesMs,
    beforeMs,
    measureShare: measureMs / beforeMs,
    outlinesShare: outlinesMs / beforeMs,
  };
}
