import { describe, expect, it } from "vitest";
import { maskFromPixelIndices } from "../../../../core/masks/binary-mask";
import { pasteBoxMask } from "../../../../core/masks/paste";
import { tuneThresholds } from "../../../../core/postprocess/tune";
import type { Postprocess } from "../../../../core/schemas/manifest";
import { detections } from "./detections-fixture";

const base: Postprocess = {
  scoreThresholds: { shsy5y: 0.5, astro: 0.5, cort: 0.5 },
  minAreas: { shsy5y: 0, astro: 0, cort: 0 },
  maskThreshold: 0.5,
  nmsIou: 0.5,
};

function truthOf(box: [number, number, number, number]) {
  const mask = pasteBoxMask(new Float32Array(16).fill(0.9), 0, 4, box, 64, 64, 0.5)!;
  const indices: number[] = [];
  for (let y = 0; y < mask.height; y++)
    for (let x = 0; x < mask.width; x++) if (mask.data[y * mask.width + x]) indices.push((mask.top + y) * 64 + mask.left + x);
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
