import { maskArea } from "../masks/binary-mask";
import { pasteBoxMask } from "../masks/paste";
import { resolveOverlaps } from "../masks/overlap";
import type { Postprocess } from "../schemas/manifest";
import { CELL_TYPES, type CellType, type Detections, type Instance } from "../types";

/**
 * The image's cell type: each image holds one type, so the type with the largest total detection score
 * wins and its own thresholds apply (the competition's strongest entries did the same).
 */
export function voteCellType(detections: Pick<Detections, "scores" | "labels">): CellType | undefined {
  const totals = new Float64Array(CELL_TYPES.length + 1);
  detections.labels.forEach((label, i) => {
    if (label >= 1 && label <= CELL_TYPES.length) totals[label] += detections.scores[i];
  });
  let best = 0;
  for (let label = 1; label <= CELL_TYPES.length; label++) if (totals[label] > totals[best]) best = label;
  return best === 0 ? undefined : CELL_TYPES[best - 1];
}

/** The detections post-processing keeps before any mask: the voted type's, above its score threshold. */
export interface Candidates {
  readonly cellType: CellType;
  /** Detection indices by descending score. */
  readonly indices: readonly number[];
}

/**
 * The voted cell type's detections scoring at least its threshold, by descending score; undefined when
 * nothing was detected. Needs no mask: a runtime computes masks for these alone.
 * @example
 * const kept = selectCandidates(fused, manifest.postprocess);
 */
export function selectCandidates(
  detections: Pick<Detections, "scores" | "labels">,
  settings: Postprocess,
): Candidates | undefined {
  const cellType = voteCellType(detections);
  if (!cellType) return undefined;
  const label = CELL_TYPES.indexOf(cellType) + 1;
  const threshold = settings.scoreThresholds[cellType];
  const indices: number[] = [];
  detections.labels.forEach((l, i) => {
    if (l === label && detections.scores[i] >= threshold) indices.push(i);
  });
  indices.sort((a, b) => detections.scores[b] - detections.scores[a] || a - b);
  return { cellType, indices };
}

/**
 * The candidates' masks -> disjoint cell instances: paste each mask into its box, give contested pixels to
 * the higher score (dropping a cell that keeps less than `minKeptFraction` of its mask), then drop
 * instances smaller than the type's minimum area. `masks` holds the candidates' M x M masks in candidate
 * order. Instances come out by descending score.
 * @example
 * const cells = candidatesToInstances(kept, fused, masks, 28, 704, 520, manifest.postprocess);
 */
export function candidatesToInstances(
  candidates: Candidates,
  detections: Pick<Detections, "boxes" | "scores">,
  masks: Float32Array,
  maskSize: number,
  width: number,
  height: number,
  settings: Postprocess,
): Instance[] {
  const maskValues = maskSize * maskSize;
  const pasted = candidates.indices.flatMap((i, k) => {
    const box = detections.boxes.subarray(i * 4, i * 4 + 4) as unknown as [number, number, number, number];
    const mask = pasteBoxMask(masks, k * maskValues, maskSize, box, width, height, settings.maskThreshold);
    return mask ? [{ mask, score: detections.scores[i] }] : [];
  });
  const disjoint = resolveOverlaps(
    pasted.map((p) => p.mask),
    { minKeptFraction: settings.minKeptFraction },
  );
  const { cellType } = candidates;
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

/**
 * Detections in the original image's frame, with every mask -> disjoint cell instances:
 * {@link selectCandidates} then {@link candidatesToInstances}.
 *
 * Mirrors `resolve_instances` in training/cellseg_train/instances.py, where the thresholds are tuned.
 * @example
 * const cells = detectionsToInstances(detections, 704, 520, manifest.postprocess);
 */
export function detectionsToInstances(
  detections: Detections,
  width: number,
  height: number,
  settings: Postprocess,
): Instance[] {
  const candidates = selectCandidates(detections, settings);
  if (!candidates) return [];
  const maskValues = detections.maskSize * detections.maskSize;
  const masks = new Float32Array(candidates.indices.length * maskValues);
  candidates.indices.forEach((i, k) => {
    masks.set(detections.masks.subarray(i * maskValues, (i + 1) * maskValues), k * maskValues);
  });
  return candidatesToInstances(candidates, detections, masks, detections.maskSize, width, height, settings);
}
