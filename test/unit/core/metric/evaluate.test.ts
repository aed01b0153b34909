import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { InvalidFormatError } from "../../../../core/errors";
import { parseSubmissionCsv, parseTrainingCsv, type KaggleCsv } from "../../../../core/kaggle/csv";
import { evaluateSubmission, formatEvaluationReport } from "../../../../core/metric/evaluate";
import { sartoriusPath } from "../../../support/sartorius-data";

// 4 x 4 images: "a" (cort) has two cells, "b" (cort) one, "c" (astro) one, "d" (astro) none.
const truth = parseTrainingCsv(
  [
    "id,annotation,width,height,cell_type",
    "a,1 2,4,4,cort",
    "a,9 4,4,4,cort",
    "b,6 2,4,4,cort",
    "c,1 16,4,4,astro",
    "d,,4,4,astro",
  ].join("\n"),
);

describe("evaluateSubmission", () => {
  it("scores each truth image, per cell type and overall", () => {
    // Prepare: "a" perfect, "b" a spurious extra cell (1 / 2), "c" missing, "d" rightly empty; "x" unknown.
    const predictions = parseSubmissionCsv(
      ["id,predicted", "a,9 4", "a,1 2", "b,6 2", "b,16 1", "d,", "x,1 1"].join("\n"),
    );

    // Act
    const report = evaluateSubmission(truth, predictions);

    // Assess
    expect(report).toEqual({
      overall: (1 + 0.5 + 0 + 1) / 4,
      perCellType: { astro: { images: 2, map: 0.5 }, cort: { images: 2, map: 0.75 } },
      perImage: { a: 1, b: 0.5, c: 0, d: 1 },
      images: 4,
      missingPredictions: ["c"],
      extraPredictions: ["x"],
    });
  });

  it("scores a missing image 1 when the truth has no cells in it", () => {
    // Act
    const report = evaluateSubmission(truth, parseSubmissionCsv("id,predicted\n"));

    // Assess
    expect(report.perImage).toEqual({ a: 0, b: 0, c: 0, d: 1 });
    expect(report.missingPredictions).toEqual(["a", "b", "c", "d"]);
  });

  it("names the image of a malformed RLE", () => {
    // Prepare
    const predictions = parseSubmissionCsv("id,predicted\nb,6 2\nb,16 2\n");

    // Act
    const evaluate = () => evaluateSubmission(truth, predictions);

    // Assess
    expect(evaluate).toThrow(InvalidFormatError);
    expect(evaluate).toThrow(/submission image b, instance 2: Kaggle RLE run 1 \(start 16, length 2\) lies outside/);
  });

  it("refuses a truth without image sizes or without images", () => {
    // Prepare
    const submissionAsTruth = parseSubmissionCsv("id,predicted\na,1 1\n");

    // Assess
    expect(() => evaluateSubmission(submissionAsTruth, submissionAsTruth)).toThrow(
      /truth image a has no width and height/,
    );
    expect(() => evaluateSubmission(new Map(), submissionAsTruth)).toThrow(/no images to score/);
  });

  it("scores 1 for three real train.csv images against themselves, overlapping truths included", () => {
    // Prepare: the first image of each cell type; their truths overlap (336, 131 and 6 touching pairs).
    const all = parseTrainingCsv(readFileSync(sartoriusPath("train", "train.csv")));
    const picked: KaggleCsv = new Map(
      ["shsy5y", "astro", "cort"].map((type) => [...all].find(([, image]) => image.cellType === type)!),
    );
    const asSubmission: KaggleCsv = new Map([...picked].map(([id, image]) => [id, { annotations: image.annotations }]));

    // Act
    const report = evaluateSubmission(picked, asSubmission);

    // Assess
    expect(report.overall).toBe(1);
    expect(Object.keys(report.perCellType)).toEqual(["astro", "cort", "shsy5y"]);
    expect(formatEvaluationReport(report).at(-1)).toBe("mAP 1.0000");
  });
});

describe("formatEvaluationReport", () => {
  it("ends with exactly the mAP to 4 decimals, after the counts and the cell types", () => {
    // Prepare
    const report = evaluateSubmission(truth, parseSubmissionCsv("id,predicted\na,1 2\nb,6 2\nd,\nx,\ny,\n"));

    // Act
    const lines = formatEvaluationReport(report);

    // Assess: a scores 1 / 2, b 1, c 0, d 1.
    expect(lines).toEqual([
      "images 4",
      "missing predictions 1 (c)",
      "extra predictions 2 (x, y)",
      "astro images 2 mAP 0.5000",
      "cort images 2 mAP 0.7500",
      "mAP 0.6250",
    ]);
  });
});
