/**
 * Scores a submission against the ground truth, both parsed Kaggle CSVs (core/kaggle/csv.ts), with the
 * competition metric, overall and per cell type.
 */
import { InvalidFormatError } from "../errors";
import type { KaggleCsv } from "../kaggle/csv";
import { decodeKaggleRle } from "../masks/kaggle-rle";
import { imageScore } from "./competition";

/** Where the truth gives no cell type (it always does in the training format). */
const UNKNOWN_CELL_TYPE = "unknown";

export interface EvaluationReport {
  /** The mean image score over the truth's images: the competition's mAP. */
  overall: number;
  /** Keyed by the truth's cell type. */
  perCellType: Record<string, { images: number; map: number }>;
  /** Each truth image's score. */
  perImage: Record<string, number>;
  /** The number of truth images scored. */
  images: number;
  /** Truth images the submission lacks: scored 0, or 1 when they have no cells. */
  missingPredictions: string[];
  /** Submission images not in the truth: not scored. */
  extraPredictions: string[];
}

/**
 * Scores every image of the truth; the submission's RLEs are decoded with the truth's image size.
 *
 * @throws InvalidFormatError when the truth is empty or lacks an image's size (it is not a training CSV),
 * or an RLE on either side is malformed (the message names the image).
 * @example
 * const report = evaluateSubmission(parseTrainingCsv(truthText), parseSubmissionCsv(submissionText));
 * report.overall; // e.g. 0.31
 */
export function evaluateSubmission(truth: KaggleCsv, predictions: KaggleCsv): EvaluationReport {
  if (truth.size === 0) throw new InvalidFormatError("the truth has no images to score");
  const perImage: Record<string, number> = {};
  const byType = new Map<string, number[]>();
  for (const [id, image] of truth) {
    const { width, height } = image;
    if (width === undefined || height === undefined) {
      throw new InvalidFormatError(`truth image ${id} has no width and height: is the truth a training CSV?`);
    }
    const decode = (side: string, annotations: readonly string[]) =>
      annotations.map((rle, i) => {
        try {
          return decodeKaggleRle(rle, width, height);
        } catch (error) {
          if (!(error instanceof InvalidFormatError)) throw error;
          throw new InvalidFormatError(`${side} image ${id}, instance ${i + 1}: ${error.message}`, { cause: error });
        }
      });
    const pred = decode("submission", predictions.get(id)?.annotations ?? []);
    const score = imageScore(pred, decode("truth", image.annotations));
    perImage[id] = score;
    const type = image.cellType ?? UNKNOWN_CELL_TYPE;
    const scores = byType.get(type) ?? [];
    byType.set(type, scores);
    scores.push(score);
  }
  const perCellType = Object.fromEntries(
    [...byType]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([type, scores]) => [type, { images: scores.length, map: mean(scores) }]),
  );
  return {
    overall: mean(Object.values(perImage)),
    perCellType,
    perImage,
    images: truth.size,
    missingPredictions: [...truth.keys()].filter((id) => !predictions.has(id)),
    extraPredictions: [...predictions.keys()].filter((id) => !truth.has(id)),
  };
}

/**
 * The report as text lines: counts, then per cell type, and last exactly `mAP <overall, 4 decimals>` so
 * that scripts can take the last line.
 *
 * @example
 * formatEvaluationReport(report).at(-1); // "mAP 0.3123"
 */
export function formatEvaluationReport(report: EvaluationReport): string[] {
  // A few ids say which images are meant; all of them could be hundreds.
  const listed = (ids: string[]) =>
    ids.length === 0 ? "0" : `${ids.length} (${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", ..." : ""})`;
  return [
    `images ${report.images}`,
    `missing predictions ${listed(report.missingPredictions)}`,
    `extra predictions ${listed(report.extraPredictions)}`,
    ...Object.entries(report.perCellType).map(
      ([type, { images, map }]) => `${type} images ${images} mAP ${map.toFixed(4)}`,
    ),
    `mAP ${report.overall.toFixed(4)}`,
  ];
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}
