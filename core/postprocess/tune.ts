import { imageScore } from "../metric/competition";
import type { Postprocess } from "../schemas/manifest";
import { CELL_TYPES, type BinaryMask, type CellType, type Detections } from "../types";
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
  readonly scoreThresholds: readonly number[];
  readonly minAreas: readonly number[];
}

export const DEFAULT_TUNING_GRID: TuningGrid = {
  maskThresholds: [0.4, 0.45, 0.5, 0.55, 0.6],
  scoreThresholds: Array.from({ length: 18 }, (_, i) => Number((0.05 + 0.05 * i).toFixed(2))),
  minAreas: [0, 25, 50, 75, 100, 150, 200],
};

export interface TuningResult {
  readonly postprocess: Postprocess;
  /** Mean image score with the tuned settings, overall and per voted cell type. */
  readonly map: number;
  readonly mapPerType: Partial<Record<CellType, number>>;
}

/**
 * Picks, per cell type, the score threshold and minimum area, and one mask threshold, that maximise the
 * competition metric on the samples. Each image is post-processed once per mask threshold with the lowest
 * score threshold and no minimum area: since overlaps go to higher scores, raising either threshold only
 * removes instances without changing the others, so every grid point is a filter of that one result.
 * Images are grouped by their voted type, as at run time.
 * @example
 * const { postprocess } = tuneThresholds(samples, manifest.postprocess);
 */
export function tuneThresholds(samples: readonly TuningSample[], base: Postprocess, grid: TuningGrid = DEFAULT_TUNING_GRID): TuningResult {
  const lowest = Math.min(...grid.scoreThresholds);
  let best: TuningResult | undefined;
  for (const maskThreshold of grid.maskThresholds) {
    const settings: Postprocess = {
      ...base,
      maskThreshold,
      scoreThresholds: { shsy5y: lowest, astro: lowest, cort: lowest },
      minAreas: { shsy5y: 0, astro: 0, cort: 0 },
    };
    const byType = new Map<CellType, { instances: ReturnType<typeof detectionsToInstances>; truth: readonly BinaryMask[] }[]>();
    for (const sample of samples) {
      const type = voteCellType(sample.detections) ?? CELL_TYPES[0];
      const instances = detectionsToInstances(sample.detections, sample.width, sample.height, settings);
      byType.set(type, [...(byType.get(type) ?? []), { instances, truth: sample.truth }]);
    }
    const scoreThresholds = { ...base.scoreThresholds };
    const minAreas = { ...base.minAreas };
    const mapPerType: Partial<Record<CellType, number>> = {};
    let total = 0;
    for (const [type, images] of byType) {
      let bestForType = { score: -1, threshold: 0, minArea: 0 };
      for (const threshold of grid.scoreThresholds) {
        for (const minArea of grid.minAreas) {
          const score =
            images.reduce(
              (sum, { instances, truth }) =>
                sum + imageScore(instances.filter((i) => i.score >= threshold && i.area >= minArea).map((i) => i.mask), truth),
              0,
            ) / images.length;
          if (score > bestForType.score) bestForType = { score, threshold, minArea };
        }
      }
      scoreThresholds[type] = bestForType.threshold;
      minAreas[type] = bestForType.minArea;
      mapPerType[type] = bestForType.score;
      total += bestForType.score * images.length;
    }
    const map = total / Math.max(samples.length, 1);
    if (!best || map > best.map) best = { postprocess: { ...base, maskThreshold, scoreThresholds, minAreas }, map, mapPerType };
  }
  return best!;
}
