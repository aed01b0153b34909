import { imageScore } from "../metric/competition";
import type { Postprocess } from "../schemas/manifest";
import { CELL_TYPES, type BinaryMask, type CellType, type Detections } from "../types";
import { fuseDetections, type WeightedDetections } from "./fusion";
import { detectionsToInstances, voteCellType } from "./instances";

/** One validation image: what the model found (fused, image frame) and the true masks. */
export interface TuningSample {
  readonly detections: Detections;
  readonly width: number;
  readonly height: number;
  readonly truth: readonly BinaryMask[];
}

export interface TuningGrid {
  readonly maskThresholds: readonly number[];
  readonly minKeptFractions: readonly number[];
  readonly scoreThresholds: readonly number[];
  readonly minAreas: readonly number[];
  /**
   * Shrinkage towards the setting best for all images together, in images: a type with n validation images
   * is tuned on (n x its own mean + this x the pooled mean) / (n + this). The split holds 5 shsy5y images;
   * alone they would pick whatever fits those 5.
   */
  readonly pooledWeight: number;
}

export const DEFAULT_TUNING_GRID: TuningGrid = {
  maskThresholds: [0.4, 0.45, 0.5, 0.55, 0.6],
  minKeptFractions: [0, 0.5, 0.6, 0.7, 0.8],
  scoreThresholds: Array.from({ length: 18 }, (_, i) => Number((0.05 + 0.05 * i).toFixed(2))),
  minAreas: [0, 25, 50, 75, 100, 150, 200],
  pooledWeight: 10,
};

export interface TuningResult {
  readonly postprocess: Postprocess;
  /** Mean image score with the tuned settings, overall and per voted cell type. */
  readonly map: number;
  readonly mapPerType: Partial<Record<CellType, number>>;
}

/**
 * Picks, per cell type, the score threshold and minimum area, and one mask threshold and kept fraction,
 * that maximise the competition metric on the samples (a type with few images is pulled towards the pooled
 * optimum: {@link TuningGrid.pooledWeight}). Each image is post-processed once per (mask
 * threshold, kept fraction) with the lowest score threshold and no minimum area: since overlaps go to higher
 * scores, raising either threshold only removes instances without changing the others, so every grid point
 * is a filter of that one result.
 * Images are grouped by their voted type, as at run time.
 * @example
 * const { postprocess } = tuneThresholds(samples, manifest.postprocess);
 */
export function tuneThresholds(
  samples: readonly TuningSample[],
  base: Postprocess,
  grid: TuningGrid = DEFAULT_TUNING_GRID,
): TuningResult {
  const lowest = Math.min(...grid.scoreThresholds);
  let best: TuningResult | undefined;
  const passes = grid.maskThresholds.flatMap((maskThreshold) =>
    grid.minKeptFractions.map((minKeptFraction) => ({ maskThreshold, minKeptFraction })),
  );
  for (const { maskThreshold, minKeptFraction } of passes) {
    const settings: Postprocess = {
      ...base,
      maskThreshold,
      minKeptFraction,
      scoreThresholds: { shsy5y: lowest, astro: lowest, cort: lowest },
      minAreas: { shsy5y: 0, astro: 0, cort: 0 },
    };
    const byType = new Map<
      CellType,
      { instances: ReturnType<typeof detectionsToInstances>; truth: readonly BinaryMask[] }[]
    >();
    for (const sample of samples) {
      const type = voteCellType(sample.detections) ?? CELL_TYPES[0];
      const instances = detectionsToInstances(sample.detections, sample.width, sample.height, settings);
      byType.set(type, [...(byType.get(type) ?? []), { instances, truth: sample.truth }]);
    }
    // Mean image score of each type at each (score threshold, minimum area), and of all images pooled.
    const points = grid.scoreThresholds.flatMap((threshold) =>
      grid.minAreas.map((minArea) => ({ threshold, minArea })),
    );
    const means = new Map<CellType, number[]>();
    for (const [type, images] of byType) {
      means.set(
        type,
        points.map(
          ({ threshold, minArea }) =>
            images.reduce(
              (sum, { instances, truth }) =>
                sum +
                imageScore(
                  instances.filter((i) => i.score >= threshold && i.area >= minArea).map((i) => i.mask),
                  truth,
                ),
              0,
            ) / images.length,
        ),
      );
    }
    const pooled = points.map(
      (_, p) =>
        [...byType].reduce((sum, [type, images]) => sum + means.get(type)![p] * images.length, 0) /
        Math.max(samples.length, 1),
    );
    const scoreThresholds = { ...base.scoreThresholds };
    const minAreas = { ...base.minAreas };
    const mapPerType: Partial<Record<CellType, number>> = {};
    let total = 0;
    for (const [type, images] of byType) {
      const own = means.get(type)!;
      const n = images.length;
      const objective = own.map((mean, p) => (n * mean + grid.pooledWeight * pooled[p]) / (n + grid.pooledWeight));
      const chosen = objective.indexOf(Math.max(...objective));
      scoreThresholds[type] = points[chosen].threshold;
      minAreas[type] = points[chosen].minArea;
      mapPerType[type] = own[chosen];
      total += own[chosen] * n;
    }
    const map = total / Math.max(samples.length, 1);
    if (!best || map > best.map)
      best = { postprocess: { ...base, maskThreshold, minKeptFraction, scoreThresholds, minAreas }, map, mapPerType };
  }
  return best!;
}

/** One validation image before fusion: every member under every TTA variant, in the image frame. */
export interface FusionTuningSample extends Omit<TuningSample, "detections"> {
  readonly sources: readonly WeightedDetections[];
}

export const DEFAULT_FUSION_IOUS = [0.4, 0.5, 0.55, 0.6, 0.7] as const;

/**
 * {@link tuneThresholds} for each fusion IoU (the box overlap above which two sources' detections are one
 * cell); the best of all. A profile with one source has nothing to fuse and keeps `base.fusionIou`.
 * @example
 * const { postprocess } = tuneFusion(samples, manifest.postprocess);
 */
export function tuneFusion(
  samples: readonly FusionTuningSample[],
  base: Postprocess,
  fusionIous: readonly number[] = DEFAULT_FUSION_IOUS,
  grid: TuningGrid = DEFAULT_TUNING_GRID,
): TuningResult {
  const candidates = samples.every((s) => s.sources.length === 1) ? [base.fusionIou] : fusionIous;
  let best: TuningResult | undefined;
  for (const fusionIou of candidates) {
    const fused = samples.map(({ sources, ...rest }) => ({ ...rest, detections: fuseDetections(sources, fusionIou) }));
    const result = tuneThresholds(fused, { ...base, fusionIou }, grid);
    if (!best || result.map > best.map) best = result;
  }
  return best!;
}
