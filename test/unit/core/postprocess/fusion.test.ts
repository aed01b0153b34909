import { describe, expect, it } from "vitest";
import { fuseDetections } from "../../../../core/postprocess/fusion";
import { detections } from "./detections-fixture";

describe("fuseDetections", () => {
  it("passes a single source through unchanged", () => {
    const only = detections([{ box: [0, 0, 10, 10], score: 0.9, label: 1 }]);
    expect(fuseDetections([{ detections: only, weight: 1 }], 0.5)).toBe(only);
  });

  it("merges overlapping boxes of the same class into a score-weighted box, mean score and mean mask", () => {
    // Prepare
    const a = detections([{ box: [0, 0, 10, 10], score: 0.8, label: 1, maskValue: 1 }]);
    const b = detections([{ box: [1, 1, 11, 11], score: 0.4, label: 1, maskValue: 0.4 }]);

    // Act
    const fused = fuseDetections(
      [
        { detections: a, weight: 1 },
        { detections: b, weight: 1 },
      ],
      0.5,
    );

    // Assess
    expect(fused.scores).toHaveLength(1);
    expect(fused.scores[0]).toBeCloseTo(0.6);
    expect(fused.boxes[0]).toBeCloseTo((0 * 0.8 + 1 * 0.4) / 1.2);
    expect(fused.masks[0]).toBeCloseTo((1 * 0.8 + 0.4 * 0.4) / 1.2);
  });

  it("keeps a cell found by one source only, with its score diluted by the others", () => {
    // Prepare
    const a = detections([{ box: [0, 0, 10, 10], score: 0.9, label: 1 }]);
    const b = detections([]);

    // Act
    const fused = fuseDetections(
      [
        { detections: a, weight: 1 },
        { detections: b, weight: 1 },
      ],
      0.5,
    );

    // Assess
    expect(Array.from(fused.scores)).toEqual([expect.closeTo(0.45)]);
  });

  it("never fuses different classes or distant boxes", () => {
    // Prepare
    const a = detections([
      { box: [0, 0, 10, 10], score: 0.9, label: 1 },
      { box: [50, 50, 60, 60], score: 0.9, label: 1 },
    ]);
    const b = detections([{ box: [0, 0, 10, 10], score: 0.9, label: 2 }]);

    // Act
    const fused = fuseDetections(
      [
        { detections: a, weight: 1 },
        { detections: b, weight: 1 },
      ],
      0.5,
    );

    // Assess
    expect(Array.from(fused.labels).sort()).toEqual([1, 1, 2]);
  });
});
