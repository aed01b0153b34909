import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { decodeKaggleRle, encodeKaggleRle } from "../../../../core/masks/kaggle-rle";
import { imageScore } from "../../../../core/metric/competition";

interface MetricCase {
  name: string;
  width: number;
  height: number;
  truth: string[];
  pred: string[];
  score: number;
}

// Shared with training/tests/test_competition_metric.py: the Python metric must score these cases alike.
const FIXTURE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "..",
  "fixtures",
  "competition-metric.json",
);
const { cases } = JSON.parse(readFileSync(FIXTURE, "utf8")) as { cases: MetricCase[] };

describe("imageScore on the metric cases shared with the training package", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    // Prepare
    const decode = (rle: string) => decodeKaggleRle(rle, c.width, c.height);

    // Act
    const score = imageScore(c.pred.map(decode), c.truth.map(decode));

    // Assess
    expect(score).toBeCloseTo(c.score, 12);
  });

  it("holds canonical Kaggle RLE, as both encoders write it", () => {
    for (const c of cases) {
      for (const rle of [...c.truth, ...c.pred])
        expect(encodeKaggleRle(decodeKaggleRle(rle, c.width, c.height))).toBe(rle);
    }
  });

  it("covers perfect, failed and partial scores", () => {
    const scores = cases.map((c) => c.score);
    expect(Math.min(...scores)).toBe(0);
    expect(Math.max(...scores)).toBe(1);
    expect(scores.filter((s) => s > 0 && s < 1).length).toBeGreaterThanOrEqual(5);
  });
});
