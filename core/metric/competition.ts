/**
 * The competition metric (shared/data/sartorius/README.md): per image, the mean over IoU thresholds
 * 0.50, 0.55, ..., 0.95 of TP / (TP + FP + FN), a prediction matching a truth when their IoU is strictly
 * above the threshold. Twin of training/cellseg_train/competition_metric.py: both score the cases of
 * test/fixtures/competition-metric.json alike.
 */
import { maskArea, maskIntersectionArea } from "../masks/binary-mask";
import type { BinaryMask } from "../types";

/** Thresholds in twentieths, so that "IoU > t" is decided in integers: 20 * intersection > k * union. */
const THRESHOLD_TWENTIETHS = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19] as const;

/**
 * The IoU thresholds 0.5, 0.55, ..., 0.95, each the double nearest its decimal (not 0.5 + 0.05 * i, which
 * drifts to 0.6000000000000001).
 *
 * @example
 * IOU_THRESHOLDS.length; // 10
 */
export const IOU_THRESHOLDS: readonly number[] = THRESHOLD_TWENTIETHS.map((k) => (5 * k) / 100);

interface Pair {
  readonly pred: number;
  readonly truth: number;
  readonly intersection: number;
  readonly union: number;
}

/**
 * One image's score: the mean over {@link IOU_THRESHOLDS} of TP / (TP + FP + FN).
 *
 * Predictions and truths are matched one to one, greedily by IoU descending (ties by prediction, then truth
 * index): overlapping truths, or overlapping predictions from a foreign file, cannot both match one mask.
 * Masks with no pixels are not instances and are ignored on both sides. Edge cases: no predictions and no
 * truth score 1; no predictions with truth, or predictions with no truth, score 0.
 *
 * @example
 * imageScore(truth, truth); // 1
 * imageScore([], truth); // 0 when truth has a mask
 */
export function imageScore(pred: readonly BinaryMask[], truth: readonly BinaryMask[]): number {
  const predictions = instances(pred);
  const truths = instances(truth);
  if (predictions.length === 0 && truths.length === 0) return 1;

  const pairs: Pair[] = [];
  predictions.forEach((p, i) => {
    truths.forEach((t, j) => {
      // IoU <= min(area) / max(area), so pairs whose areas differ twofold never pass 0.5.
      if (2 * Math.min(p.area, t.area) <= Math.max(p.area, t.area) || !cropsOverlap(p.mask, t.mask)) return;
      const intersection = maskIntersectionArea(p.mask, t.mask);
      const union = p.area + t.area - intersection;
      if (2 * intersection > union) pairs.push({ pred: i, truth: j, intersection, union });
    });
  });
  pairs.sort((a, b) => b.intersection * a.union - a.intersection * b.union || a.pred - b.pred || a.truth - b.truth);

  // Greedy acceptance depends only on earlier pairs, so the matching at a threshold t is the prefix of this
  // one with IoU > t: one pass serves all thresholds.
  const truePositives = THRESHOLD_TWENTIETHS.map(() => 0);
  const predMatched = new Uint8Array(predictions.length);
  const truthMatched = new Uint8Array(truths.length);
  for (const { pred: i, truth: j, intersection, union } of pairs) {
    if (predMatched[i] || truthMatched[j]) continue;
    predMatched[i] = truthMatched[j] = 1;
    THRESHOLD_TWENTIETHS.forEach((k, t) => {
      if (20 * intersection > k * union) truePositives[t]++;
    });
  }
  const precisions = truePositives.map((tp) => tp / (predictions.length + truths.length - tp));
  return precisions.reduce((sum, p) => sum + p, 0) / precisions.length;
}

function instances(masks: readonly BinaryMask[]) {
  return masks.map((mask) => ({ mask, area: maskArea(mask) })).filter(({ area }) => area > 0);
}

function cropsOverlap(a: BinaryMask, b: BinaryMask): boolean {
  return a.left < b.left + b.width && b.left < a.left + a.width && a.top < b.top + b.height && b.top < a.top + a.height;
}
