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
 * @example
 * ```ts
 * const summary = summarizeImage(image, labels, measureCells(image, labels, instances));
 * console.log(`${summary.cells} cells, ${summary.confluencePct.toFixed(1)} % confluent`);
 * ```
 */
export function summarizeImage(image: GrayImage, labels: Uint16Array, cells: readonly CellMeasurement[]): ImageSummary {
  let inside = 0;
  let insideSum = 0;
  let outsideSum = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0) {
      inside++;
      insideSum += image.pixels[i]!;
    } else {
      outsideSum += image.pixels[i]!;
    }
  }
  const outside = labels.length - inside;
  const cellsPerType = Object.fromEntries(CELL_TYPES.map((type) => [type, cells.filter((cell) => cell.cellType === type).length])) as Record<CellType, number>;
  const areas = cells.map((cell) => cell.area).sort((a, b) => a - b);
  return {
    cells: cells.length,
    cellsPerType,
    confluencePct: (100 * inside) / labels.length,
    meanArea: areas.length > 0 ? areas.reduce((sum, area) => sum + area, 0) / areas.length : undefined,
    medianArea: median(areas),
    meanIntensityInside: inside > 0 ? insideSum / inside : undefined,
    meanIntensityOutside: outside > 0 ? outsideSum / outside : undefined,
  };
}

/** The median of sorted values (the mean of the middle two for an even count), as numpy's. */
function median(sorted: readonly number[]): number | undefined {
  if (sorted.length === 0) return undefined;
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
