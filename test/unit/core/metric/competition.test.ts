import { describe, expect, it } from "vitest";
import { emptyMask, maskFromPixelIndices } from "../../../../core/masks/binary-mask";
import { IOU_THRESHOLDS, imageScore } from "../../../../core/metric/competition";
import type { BinaryMask } from "../../../../core/types";

const SIZE = 40;

/** A w x h rectangle at (x, y), by default in a SIZE x SIZE image. */
function rect(x: number, y: number, w: number, h: number, imageWidth = SIZE, imageHeight = SIZE): BinaryMask {
  const indices: number[] = [];
  for (let row = y; row < y + h; row++) for (let col = x; col < x + w; col++) indices.push(row * imageWidth + col);
  return maskFromPixelIndices(indices, imageWidth, imageHeight);
}

describe("IOU_THRESHOLDS", () => {
  it("are 0.50, 0.55, ..., 0.95 as exact decimals", () => {
    expect(IOU_THRESHOLDS).toEqual([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]);
  });
});

describe("imageScore", () => {
  const square = rect(0, 0, 10, 10);

  it("scores 1 when there are neither predictions nor truth", () => {
    expect(imageScore([], [])).toBe(1);
  });

  it("scores 0 when there is truth but no prediction", () => {
    expect(imageScore([], [square])).toBe(0);
  });

  it("scores 0 when there are predictions but no truth", () => {
    expect(imageScore([square], [])).toBe(0);
  });

  it("ignores masks with no pixels", () => {
    expect(imageScore([emptyMask(SIZE, SIZE)], [])).toBe(1);
    expect(imageScore([square, emptyMask(SIZE, SIZE)], [square])).toBe(1);
  });

  it("scores 1 for a perfect prediction", () => {
    // Prepare
    const truth = [rect(0, 0, 10, 10), rect(20, 0, 5, 8), rect(0, 20, 15, 3)];

    // Act
    const score = imageScore([...truth].reverse(), truth);

    // Assess
    expect(score).toBe(1);
  });

  it("scores 0.7 for a 10x10 square shifted by one pixel", () => {
    // Prepare: IoU = 90 / 110 = 0.818, above 0.50 ... 0.80 (7 thresholds), not above 0.85 ... 0.95, where the
    // prediction is a false positive and the truth a false negative.
    const shifted = rect(1, 0, 10, 10);

    // Act
    const score = imageScore([shifted], [square]);

    // Assess
    expect(score).toBeCloseTo(0.7, 12);
  });

  it("counts TP / (TP + FP + FN) per threshold", () => {
    // Prepare: one exact match, one shifted match (IoU 0.818), one missed truth, one spurious prediction.
    const truth = [square, rect(20, 0, 10, 10), rect(0, 20, 4, 4)];
    const pred = [square, rect(21, 0, 10, 10), rect(30, 30, 5, 5)];

    // Act
    const score = imageScore(pred, truth);

    // Assess: 7 thresholds at 2 / (2 + 1 + 1), 3 at 1 / (1 + 2 + 2).
    expect(score).toBeCloseTo((7 * (2 / 4) + 3 * (1 / 5)) / 10, 12);
  });

  // A prediction of k of a truth's 20 pixels has IoU exactly k / 20, which equals a threshold: it must not match
  // there (IoU > t strictly), whatever floating point makes of 0.5 + 0.05 * i.
  it.each([10, 11, 12, 13, 14, 15, 16, 17, 18, 19])("does not match at a threshold equal to the IoU %i/20", (k) => {
    // Prepare
    const truth = rect(0, 0, 20, 1);
    const pred = rect(0, 0, k, 1);

    // Act
    const score = imageScore([pred], [truth]);

    // Assess: matched at the k - 10 thresholds below k / 20.
    expect(score).toBeCloseTo((k - 10) / 10, 12);
  });

  it("matches one to one when a foreign file's predictions overlap", () => {
    // Prepare: both predictions pass IoU 0.5 with the one truth; only the better one may count.
    const pred = [rect(1, 0, 10, 10), square];

    // Act
    const score = imageScore(pred, [square]);

    // Assess: TP 1, FP 1, FN 0 at every threshold.
    expect(score).toBeCloseTo(0.5, 12);
  });

  it("matches one to one when truths overlap", () => {
    // Prepare: overlapping truths, each with its exact prediction, and also IoU 0.818 across.
    const truth = [square, rect(1, 0, 10, 10)];

    // Act
    const score = imageScore([...truth], truth);

    // Assess
    expect(score).toBe(1);
  });

  it("scores dense shsy5y-like images with ~800 instances a side", () => {
    // Prepare: 800 cells of 15 x 15 on a 704 x 520 image; predictions shifted by one pixel.
    const cell = (i: number, dx: number) => rect(5 + (i % 40) * 17 + dx, 5 + Math.floor(i / 40) * 25, 15, 15, 704, 520);
    const truth = Array.from({ length: 800 }, (_, i) => cell(i, 0));
    const pred = Array.from({ length: 800 }, (_, i) => cell(i, 1));

    // Act
    const score = imageScore(pred, truth);

    // Assess: IoU 210 / 240 = 0.875 passes 0.50 ... 0.85 (8 thresholds). Speed is measured by `npm run bench`.
    expect(score).toBeCloseTo(0.8, 12);
  });
});
