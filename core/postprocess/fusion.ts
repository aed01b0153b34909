import type { Detections } from "../types";

/** One source of detections for fusion: an ensemble member under one test-time augmentation. */
export interface WeightedDetections {
  readonly detections: Detections;
  readonly weight: number;
}

interface Cluster {
  readonly label: number;
  readonly box: Float64Array; // running fused box
  readonly boxSum: Float64Array;
  readonly maskSum: Float32Array;
  weightSum: number; // sum of score * variant weight
}

/**
 * Weighted box fusion with averaged masks: detections of the same class whose box overlaps a cluster's
 * fused box by more than `iouThreshold` join it; the fused box and M x M mask are score-weighted means and
 * the fused score is the mean over all sources (a cell only one variant found keeps a lower score).
 * Unlike NMS it keeps information from every variant, which is what makes flips and members help.
 *
 * All inputs must be in the same (original image) frame with the same mask size.
 * @example
 * const fused = fuseDetections([{ detections: plain, weight: 1 }, { detections: flipped, weight: 1 }], 0.55);
 */
export function fuseDetections(sources: readonly WeightedDetections[], iouThreshold: number): Detections {
  if (sources.length === 1) return sources[0].detections;
  const maskSize = sources[0].detections.maskSize;
  const maskArea = maskSize * maskSize;
  const totalWeight = sources.reduce((sum, s) => sum + s.weight, 0);

  const order: { source: number; index: number; weighted: number }[] = [];
  sources.forEach(({ detections, weight }, source) => {
    for (let index = 0; index < detections.scores.length; index++) {
      order.push({ source, index, weighted: detections.scores[index] * weight });
    }
  });
  order.sort((a, b) => b.weighted - a.weighted);

  const clusters: Cluster[] = [];
  for (const { source, index, weighted } of order) {
    const { detections } = sources[source];
    const label = detections.labels[index];
    const box = detections.boxes.subarray(index * 4, index * 4 + 4);
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
      best = { label, box: Float64Array.from(box), boxSum: new Float64Array(4), maskSum: new Float32Array(maskArea), weightSum: 0 };
      clusters.push(best);
    }
    best.weightSum += weighted;
    for (let k = 0; k < 4; k++) {
      best.boxSum[k] += box[k] * weighted;
      best.box[k] = best.boxSum[k] / best.weightSum;
    }
    const mask = detections.masks.subarray(index * maskArea, (index + 1) * maskArea);
    for (let k = 0; k < maskArea; k++) best.maskSum[k] += mask[k] * weighted;
  }

  const boxes = new Float32Array(clusters.length * 4);
  const scores = new Float32Array(clusters.length);
  const labels = new Int32Array(clusters.length);
  const masks = new Float32Array(clusters.length * maskArea);
  clusters.forEach((cluster, i) => {
    boxes.set(cluster.box, i * 4);
    scores[i] = cluster.weightSum / totalWeight;
    labels[i] = cluster.label;
    for (let k = 0; k < maskArea; k++) masks[i * maskArea + k] = cluster.maskSum[k] / cluster.weightSum;
  });
  return { boxes, scores, labels, masks, maskSize };
}

function boxIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const width = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const height = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (width <= 0 || height <= 0) return 0;
  const intersection = width * height;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection;
  return union > 0 ? intersection / union : 0;
}
