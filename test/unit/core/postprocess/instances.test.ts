import { describe, expect, it } from "vitest";
import { detectionsToInstances, voteCellType } from "../../../../core/postprocess/instances";
import type { Postprocess } from "../../../../core/schemas/manifest";
import { detections } from "./detections-fixture";

const settings: Postprocess = {
  scoreThresholds: { shsy5y: 0.3, astro: 0.5, cort: 0.5 },
  minAreas: { shsy5y: 10, astro: 10, cort: 10 },
  maskThreshold: 0.5,
  fusionIou: 0.55,
  minKeptFraction: 0,
};

describe("voteCellType", () => {
  it("picks the type with the largest total score, not the single best detection", () => {
    const found = detections([
      { box: [0, 0, 5, 5], score: 0.95, label: 3 },
      { box: [10, 10, 15, 15], score: 0.6, label: 1 },
      { box: [20, 20, 25, 25], score: 0.6, label: 1 },
    ]);
    expect(voteCellType(found)).toBe("shsy5y");
  });

  it("finds no type when there are no detections", () => {
    expect(voteCellType(detections([]))).toBeUndefined();
  });
});

describe("detectionsToInstances", () => {
  it("keeps only the voted type above its threshold, by descending score, with disjoint masks", () => {
    // Prepare
    const found = detections([
      { box: [0, 0, 10, 10], score: 0.5, label: 1 },
      { box: [5, 0, 15, 10], score: 0.9, label: 1 },
      { box: [30, 30, 40, 40], score: 0.2, label: 1 }, // below the shsy5y threshold
      { box: [50, 50, 60, 60], score: 0.4, label: 3 }, // not the voted type
    ]);

    // Act
    const cells = detectionsToInstances(found, 64, 64, settings);

    // Assess
    expect(cells.map((c) => c.score)).toEqual([expect.closeTo(0.9), expect.closeTo(0.5)]);
    expect(cells.every((c) => c.cellType === "shsy5y")).toBe(true);
    const [first, second] = cells;
    expect(second.box[2]).toBeLessThanOrEqual(first.box[0]); // the weaker one lost the shared pixels
    expect(cells.map((c) => c.area)).toEqual([
      first.mask.data.reduce((a, b) => a + b, 0),
      second.mask.data.reduce((a, b) => a + b, 0),
    ]);
  });

  it("drops instances left smaller than the minimum area after overlap removal", () => {
    // Prepare
    const found = detections([
      { box: [0, 0, 10, 10], score: 0.9, label: 1 },
      { box: [1, 0, 11, 10], score: 0.8, label: 1 }, // keeps only a thin strip
    ]);

    // Act
    const cells = detectionsToInstances(found, 64, 64, settings);

    // Assess
    expect(cells).toHaveLength(1);
  });

  it(
    "drops a cell that keeps less than minKeptFraction of its mask, " + "and lets the cells after it have the pixels",
    () => {
      // Prepare: a fragment mostly inside a confident cell, and a third cell overlapping the fragment only.
      const found = detections([
        { box: [0, 0, 20, 20], score: 0.9, label: 1 },
        { box: [10, 0, 24, 20], score: 0.8, label: 1 }, // keeps 4 of its 14 columns
        { box: [20, 0, 40, 20], score: 0.7, label: 1 },
      ]);

      // Act
      const kept = detectionsToInstances(found, 64, 64, { ...settings, minKeptFraction: 0.5 });
      const all = detectionsToInstances(found, 64, 64, settings);

      // Assess
      expect(kept.map((c) => c.score)).toEqual([expect.closeTo(0.9), expect.closeTo(0.7)]);
      expect(all).toHaveLength(3);
      expect(kept[1].area).toBeGreaterThan(all[2].area); // the dropped fragment took nothing from the third cell
    },
  );
});
