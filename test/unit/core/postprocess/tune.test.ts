import { describe, expect, it } from "vitest";
import { maskFromPixelIndices } from "../../../../core/masks/binary-mask";
import { pasteBoxMask } from "../../../../core/masks/paste";
import { DEFAULT_TUNING_GRID, tuneFusion, tuneThresholds } from "../../../../core/postprocess/tune";
import type { Postprocess } from "../../../../core/schemas/manifest";
import { detections } from "./detections-fixture";

const base: Postprocess = {
  scoreThresholds: { shsy5y: 0.5, astro: 0.5, cort: 0.5 },
  minAreas: { shsy5y: 0, astro: 0, cort: 0 },
  maskThreshold: 0.5,
  fusionIou: 0.55,
  minKeptFraction: 0,
};

function truthOf(box: [number, number, number, number]) {
  const mask = pasteBoxMask(new Float32Array(16).fill(0.9), 0, 4, box, 64, 64, 0.5)!;
  const indices: number[] = [];
  for (let y = 0; y < mask.height; y++)
    for (let x = 0; x < mask.width; x++)
      if (mask.data[y * mask.width + x]) indices.push((mask.top + y) * 64 + mask.left + x);
  return maskFromPixelIndices(indices, 64, 64);
}

describe("tuneThresholds", () => {
  it("raises the score threshold above a confident-looking false positive and keeps the true cells", () => {
    // Prepare: two true cells found at 0.9 and 0.42; a false positive at 0.2.
    const sample = {
      detections: detections([
        { box: [0, 0, 10, 10], score: 0.9, label: 3 },
        { box: [20, 20, 30, 30], score: 0.42, label: 3 },
        { box: [40, 40, 50, 50], score: 0.2, label: 3 },
      ]),
      width: 64,
      height: 64,
      truth: [truthOf([0, 0, 10, 10]), truthOf([20, 20, 30, 30])],
    };

    // Act
    const { postprocess, map, mapPerType } = tuneThresholds([sample], base);

    // Assess
    expect(postprocess.scoreThresholds.cort).toBeGreaterThan(0.2);
    expect(postprocess.scoreThresholds.cort).toBeLessThanOrEqual(0.42);
    expect(map).toBe(1);
    expect(mapPerType).toEqual({ cort: 1 });
    expect(postprocess.scoreThresholds.shsy5y).toBe(0.5); // no shsy5y image: left as it was
  });

  it("uses a minimum area to drop small false positives", () => {
    // Prepare: the false positive scores higher than the true cell but is tiny.
    const sample = {
      detections: detections([
        { box: [0, 0, 20, 20], score: 0.6, label: 1 },
        { box: [40, 40, 43, 43], score: 0.9, label: 1 },
      ]),
      width: 64,
      height: 64,
      truth: [truthOf([0, 0, 20, 20])],
    };

    // Act
    const { postprocess, map } = tuneThresholds([sample], base);

    // Assess
    expect(map).toBe(1);
    expect(postprocess.minAreas.shsy5y).toBeGreaterThan(16);
  });
});

describe("tuneThresholds with few images of a type", () => {
  it("pulls a type with one image towards the setting best for all images", () => {
    // Prepare: cort cells score 0.3 (a threshold above loses them); the one shsy5y image alone would
    // rather cut its false positive at 0.3 with a higher threshold.
    const cort = Array.from({ length: 3 }, () => ({
      detections: detections([{ box: [0, 0, 10, 10], score: 0.3, label: 3 }]),
      width: 64,
      height: 64,
      truth: [truthOf([0, 0, 10, 10])],
    }));
    const shsy5y = {
      detections: detections([
        { box: [0, 0, 10, 10], score: 0.9, label: 1 },
        { box: [30, 30, 40, 40], score: 0.3, label: 1 },
      ]),
      width: 64,
      height: 64,
      truth: [truthOf([0, 0, 10, 10])],
    };
    const grid = { ...DEFAULT_TUNING_GRID, maskThresholds: [0.5], minKeptFractions: [0], minAreas: [0] };

    // Act
    const alone = tuneThresholds([...cort, shsy5y], base, { ...grid, pooledWeight: 0 });
    const pooled = tuneThresholds([...cort, shsy5y], base, grid);

    // Assess
    expect(alone.postprocess.scoreThresholds.shsy5y).toBeGreaterThan(0.3);
    expect(pooled.postprocess.scoreThresholds.shsy5y).toBeLessThanOrEqual(0.3);
    expect(pooled.postprocess.scoreThresholds.cort).toBeLessThanOrEqual(0.3);
  });
});

describe("tuneFusion", () => {
  it("picks the fusion IoU under which two views of each cell fuse into one", () => {
    // Prepare: two sources see the same two cells, boxes shifted so that they overlap at IoU ~0.6.
    const view = (shift: number) =>
      detections([
        { box: [0 + shift, 0, 12 + shift, 12], score: 0.9, label: 3 },
        { box: [30 + shift, 30, 42 + shift, 42], score: 0.8, label: 3 },
      ]);
    const sample = {
      sources: [
        { detections: view(0), weight: 1 },
        { detections: view(3), weight: 1 },
      ],
      width: 64,
      height: 64,
      truth: [truthOf([1, 0, 14, 12]), truthOf([31, 30, 44, 42])],
    };

    // Act
    const { postprocess } = tuneFusion([sample], base, [0.4, 0.7]);

    // Assess: at 0.7 the views stay apart (duplicates); at 0.4 they fuse.
    expect(postprocess.fusionIou).toBe(0.4);
  });

  it("keeps the base fusion IoU when a profile has one source: there is nothing to fuse", () => {
    const sample = {
      sources: [{ detections: detections([{ box: [0, 0, 10, 10], score: 0.9, label: 3 }]), weight: 1 }],
      width: 64,
      height: 64,
      truth: [truthOf([0, 0, 10, 10])],
    };
    expect(tuneFusion([sample], base, [0.4, 0.7]).postprocess.fusionIou).toBe(base.fusionIou);
  });
});
