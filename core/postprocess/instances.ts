import { maskArea } from "../masks/binary-mask";
import { pasteBoxMask } from "../masks/paste";
import { resolveOverlaps } from "../masks/overlap";
import type { Postprocess } from "../schemas/manifest";
import { CELL_TYPES, type CellType, type Detections, type Instance } from "../types";

/**
 * The image's cell type: each image holds one type, so the type with the largest total detection score
 * wins and its own thresholds apply (the competition's strongest entries did the same).
 */
export function voteCellType(detections: Detections): CellType | undefined {
  const totals = new Float64Array(CELL_TYPES.length + 1);
  detections.labels.forEach((label, i) => {
    if (label >= 1 && label <= CELL_TYPES.length) totals[label] += detections.scores[i];
  });
  let best = 0;
  for (let label = 1; label <= CELL_TYPES.length; label++) if (totals[label] > totals[best]) best = label;
  return best === 0 ? undefined : CELL_TYPES[best - 1];
}

/**
 * Detections in the original image's frame -> disjoint cell instances: keep the voted type's detections
 * above its score threshold, paste their masks, give contested pixels to the higher score (dropping a cell
 * that keeps less than `minKeptFraction` of its mask), then drop instances smaller than the type's minimum area. Instances come out by descending score.
 *
 * Mirrors `resolve` and `image_score` in model-container/training/cellseg_train/evaluate.py, where the
 * thresholds are tuned.
 * @example
 * const cells = detectionsToInstances(detections, 704, 520, manifest.postprocess);
 */
export function detectionsToInstances(
  detections: Detections,
  width: number,
  height: number,
  settings: Postprocess,
): Instance[] {
  const cellType = voteCellType(detections);
  if (!cellType) return [];
  const label = CELL_TYPES.indexOf(cellType) + 1;
  const threshold = settings.scoreThresholds[cellType];
  const candidates: number[] = [];
  detections.labels.forEach((l, i) => {
    if (l === label && detections.scores[i] >= threshold) candidates.push(i);
  });
  candidates.sort((a, b) => detections.scores[b] - detections.scores[a] || a - b);

  const maskValues = detections.maskSize * detections.maskSize;
  const pasted = candidates.flatMap((i) => {
    const box = detections.boxes.subarray(i * 4, i * 4 + 4) as unknown as [number, number, number, number];
    const mask = pasteBoxMask(detections.masks, i * maskValues, detections.maskSize, box, width, height, settings.maskThreshold);
    return mask ? [{ mask, score: detections.scores[i] }] : [];
  });
  const disjoint = resolveOverlaps(
    pasted.map((p) => p.mask),
    { minKeptFraction: settings.minKeptFraction },
  );
  const minArea = settings.minAreas[cellType];
  const instances: Instance[] = [];
  disjoint.forEach((mask, k) => {
    if (!mask) return;
    const area = maskArea(mask);
    if (area < minArea || area === 0) return;
    instances.push({
      cellType,
      score: pasted[k].score,
      box: [mask.left, mask.top, mask.left + mask.width, mask.top + mask.height],
      mask,
      area,
    });
  });
  return instances;
}
