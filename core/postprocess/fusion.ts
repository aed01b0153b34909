import type { Detections } from "../types";

/** One source of detections for fusion: an ensemble member under one test-time augmentation. */
export interface WeightedDetections {
  readonly detections: Detections;
  readonly weight: number;
}

/** A source's boxes, scores and labels alone: fusion needs no mask to decide which detections are one cell. */
export interface WeightedBoxes {
  readonly boxes: Float32Array;
  readonly scores: Float32Array;
  readonly labels: Int32Array;
  readonly weight: number;
}

/** A detection that joined a fused cell: its source, its index there and its weight (score x source weight). */
export interface FusedPart {
  readonly source: number;
  readonly index: number;
  readonly weighted: number;
}

/** Fused cells: boxes, scores and labels, and for each cell the detections it fused (in fusion order). */
export interface FusedBoxes {
  readonly boxes: Float32Array;
  readonly scores: Float32Array;
  readonly labels: Int32Array;
  readonly parts: readonly (readonly FusedPart[])[];
}

interface Cluster {
  readonly label: number;
  readonly box: Float64Array; // running fused box
  readonly boxSum: Float64Array;
  readonly parts: FusedPart[];
  weightSum: number; // sum of score * variant weight
}

/**
 * Weighted box fusion: detections of the same class whose box overlaps a cluster's fused box by more than
 * `iouThreshold` join it; the fused box is the score-weighted mean and the fused score the mean over all
 * sources (a cell only one variant found keeps a lower score). Unlike NMS it keeps information from every
 * variant, which is what makes flips and members help. A single source passes through unchanged.
 *
 * Masks are fused afterwards ({@link fuseMasks}), so that a runtime computes masks only for the cells it keeps.
 * All inputs must be in the same (original image) frame.
 * @example
 * const fused = fuseBoxes([{ ...plain, weight: 1 }, { ...flipped, weight: 1 }], 0.55);
 */
export function fuseBoxes(sources: readonly WeightedBoxes[], iouThreshold: number): FusedBoxes {
  if (sources.length === 1) {
    const { boxes, scores, labels, weight } = sources[0];
    return {
      boxes,
      scores,
      labels,
      parts: Array.from(scores, (score, index) => [{ source: 0, index, weighted: score * weight }]),
    };
  }
  const totalWeight = sources.reduce((sum, s) => sum + s.weight, 0);
  const order: FusedPart[] = [];
  sources.forEach(({ scores, weight }, source) => {
    for (let index = 0; index < scores.length; index++) order.push({ source, index, weighted: scores[index] * weight });
  });
  order.sort((a, b) => b.weighted - a.weighted);

  const clusters: Cluster[] = [];
  for (const part of order) {
    const { boxes, labels } = sources[part.source];
    const label = labels[part.index];
    const box = boxes.subarray(part.index * 4, part.index * 4 + 4);
    let best: Cluster | undefined;
    let bestIou = iouThreshold;
    for (const cluster of clusters) {
      if (cluster.label !== label) continue;
      const iou = boxIou(cluster.box, box);
      if (iou > bestIou) {
        bestIou = iou;
        best = cluster;
      }
    }
    if (!best) {
      best = { label, box: Float64Array.from(box), boxSum: new Float64Array(4), parts: [], weightSum: 0 };
      clusters.push(best);
    }
    best.weightSum += part.weighted;
    best.parts.push(part);
    for (let k = 0; k < 4; k++) {
      best.boxSum[k] += box[k] * part.weighted;
      best.box[k] = best.boxSum[k] / best.weightSum;
    }
  }

  const boxes = new Float32Array(clusters.length * 4);
  const scores = new Float32Array(clusters.length);
  const labels = new Int32Array(clusters.length);
  clusters.forEach((cluster, i) => {
    boxes.set(cluster.box, i * 4);
    scores[i] = cluster.weightSum / totalWeight;
    labels[i] = cluster.label;
  });
  return { boxes, scores, labels, parts: clusters.map((c) => c.parts) };
}

/**
 * The M x M box-frame masks of the fused cells `cells` (in that order): each the score-weighted mean of its
 * parts' masks; `maskOf` gives a part's mask (M x M values).
 * @example
 * const masks = fuseMasks(fused, [0, 3], 28, ({ source, index }) =>
 *   masksOf[source].subarray(index * 784, (index + 1) * 784),
 * );
 */
export function fuseMasks(
  fused: FusedBoxes,
  cells: readonly number[],
  maskSize: number,
  maskOf: (part: FusedPart) => Float32Array,
): Float32Array {
  const maskArea = maskSize * maskSize;
  const masks = new Float32Array(cells.length * maskArea);
  cells.forEach((cell, i) => {
    const parts = fused.parts[cell];
    const out = masks.subarray(i * maskArea, (i + 1) * maskArea);
    if (parts.length === 1) {
      out.set(maskOf(parts[0]));
      return;
    }
    let weightSum = 0;
    for (const part of parts) {
      const mask = maskOf(part);
      for (let k = 0; k < maskArea; k++) out[k] += mask[k] * part.weighted;
      weightSum += part.weighted;
    }
    for (let k = 0; k < maskArea; k++) out[k] /= weightSum;
  });
  return masks;
}

/**
 * {@link fuseBoxes} and {@link fuseMasks} for every fused cell: sources that carry every detection's mask
 * (validation and tuning, which try every threshold).
 * @example
 * const fused = fuseDetections([{ detections: plain, weight: 1 }, { detections: flipped, weight: 1 }], 0.55);
 */
export function fuseDetections(sources: readonly WeightedDetections[], iouThreshold: number): Detections {
  if (sources.length === 1) return sources[0].detections;
  const maskSize = sources[0].detections.maskSize;
  const maskArea = maskSize * maskSize;
  const fused = fuseBoxes(
    sources.map(({ detections, weight }) => ({ ...detections, weight })),
    iouThreshold,
  );
  const masks = fuseMasks(
    fused,
    fused.parts.map((_, cell) => cell),
    maskSize,
    ({ source, index }) => sources[source].detections.masks.subarray(index * maskArea, (index + 1) * maskArea),
  );
  return { boxes: fused.boxes, scores: fused.scores, labels: fused.labels, masks, maskSize };
}

function boxIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const width = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const height = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (width <= 0 || height <= 0) return 0;
  const intersection = width * height;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection;
  return union > 0 ? intersection / union : 0;
}
