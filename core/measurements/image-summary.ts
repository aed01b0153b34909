/**
 * One image's summary (a row of `summary.csv`): how many cells of each type, how much of the image they
 * cover, how large they are, and how bright the image is inside and outside them.
 */
import { CELL_TYPES, type CellType, type GrayImage } from "../types";
import type { CellMeasurement } from "./cell-measurements";

export interface ImageSummary {
  readonly cells: number;
  readonly cellsPerType: Readonly<Record<CellType, number>>;
  /** Percentage of the image's pixels inside a cell. */
  readonly confluencePct: number;
  /** Undefined when the image has no cell. */
  readonly meanArea: number | undefined;
  readonly medianArea: number | undefined;
  readonly meanIntensityInside: number | undefined;
  /** Undefined when cells cover the whole image. */
  readonly meanIntensityOutside: number | undefined;
}

/**
 * `cells` are the image's measureCells rows: every labelled pixel belongs to one of them, so their areas
 * and intensity sums are the inside's, and only the image's total is left to add up.
 *
 * @example
 * ```ts
 * const summary = summarizeImage(image, measureCells(image, labels, instances));
 * console.log(`${summary.cells} cells, ${summary.confluencePct.toFixed(1)} % confluent`);
 * ```
 */
export function summarizeImage(image: GrayImage, cells: readonly CellMeasurement[]): ImageSummary {
  const { pixels } = image;
  let total = 0;
  for (let i = 0; i < pixels.length; i++) total += pixels[i]!;
  let inside = 0;
  let insideSum = 0;
  const cellsPerType = Object.fromEntries(CELL_TYPES.map((type) => [type, 0])) as Record<CellType, number>;
  const areas = new Float64Array(cells.length);
  cells.forEach((cell, i) => {
    inside += cell.area;
    insideSum += cell.integratedIntensity;
    cellsPerType[cell.cellType]++;
    areas[i] = cell.area;
  });
  areas.sort();
  const outside = pixels.length - inside;
  return {
    cells: cells.length,
    cellsPerType,
    confluencePct: (100 * inside) / pixels.length,
    meanArea: areas.length > 0 ? inside / areas.length : undefined,
    medianArea: median(areas),
    // Sums of integers below 2^53: the outside's is exact as a difference.
    meanIntensityInside: inside > 0 ? insideSum / inside : undefined,
    meanIntensityOutside: outside > 0 ? (total - insideSum) / outside : undefined,
  };
}

/** The median of sorted values (the mean of the middle two for an even count), as numpy's. */
function median(sorted: Float64Array): number | undefined {
  if (sorted.length === 0) return undefined;
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
