/**
 * `measurements.csv` (one row per cell) and `summary.csv` (one row per image). Every file has the same
 * columns whether or not the pixel size is known (the micrometre columns are then empty), so the files of
 * a plate's images concatenate under one header.
 */
import { csvField } from "../kaggle/csv";
import type { CellMeasurement } from "../measurements/cell-measurements";
import type { ImageSummary } from "../measurements/image-summary";
import { CELL_TYPES, type CellType } from "../types";

const MEASUREMENT_COLUMNS = [
  "image_id",
  "cell_id",
  "cell_type",
  "score",
  "area_px",
  "centroid_x",
  "centroid_y",
  "bbox_x",
  "bbox_y",
  "bbox_width",
  "bbox_height",
  "equivalent_diameter_px",
  "perimeter_px",
  "major_axis_px",
  "minor_axis_px",
  "eccentricity",
  "orientation_deg",
  "solidity",
  "form_factor",
  "touches_border",
  "mean_intensity",
  "std_intensity",
  "min_intensity",
  "max_intensity",
  "integrated_intensity",
  "pixel_size_um",
  "area_um2",
  "centroid_x_um",
  "centroid_y_um",
  "equivalent_diameter_um",
  "perimeter_um",
  "major_axis_um",
  "minor_axis_um",
] as const;

const SUMMARY_COLUMNS = [
  "image_id",
  "file_name",
  "width",
  "height",
  "pixel_size_um",
  "cell_type",
  "cell_count",
  ...CELL_TYPES.map((type) => `count_${type}` as const),
  "confluence_pct",
  "mean_area_px",
  "median_area_px",
  "mean_area_um2",
  "median_area_um2",
  "mean_intensity_inside",
  "mean_intensity_outside",
] as const;

/** The header lines, newline included, so that a stream writes them as they are. */
export const MEASUREMENTS_CSV_HEADER = `${MEASUREMENT_COLUMNS.join(",")}\n`;
export const SUMMARY_CSV_HEADER = `${SUMMARY_COLUMNS.join(",")}\n`;

/** Decimals written: well below a pixel, and below what a 16-bit intensity can tell apart. */
const DECIMALS = 4;

/**
 * One row per cell (no header; an image without cells has none).
 *
 * @example
 * ```ts
 * await writeFile("measurements.csv", MEASUREMENTS_CSV_HEADER + measurementRows("A01", cells, 0.65));
 * ```
 */
export function measurementRows(imageId: string, cells: readonly CellMeasurement[], pixelSizeUm?: number): string {
  const id = csvField(imageId);
  const um = (value: number) => (pixelSizeUm === undefined ? "" : number(value * pixelSizeUm));
  // One template per row rather than an array joined: a dense image has hundreds of rows of 33 fields.
  let rows = "";
  for (const cell of cells) {
    rows +=
      `${id},${cell.cellId},${cell.cellType},${number(cell.score)},${cell.area},` +
      `${number(cell.centroidX)},${number(cell.centroidY)},` +
      `${cell.bboxX},${cell.bboxY},${cell.bboxWidth},${cell.bboxHeight},` +
      `${number(cell.equivalentDiameter)},${number(cell.perimeter)},` +
      `${number(cell.majorAxis)},${number(cell.minorAxis)},${number(cell.eccentricity)},` +
      `${number((cell.orientation * 180) / Math.PI)},` +
      `${number(cell.solidity)},${number(cell.formFactor)},${cell.touchesBorder},` +
      `${number(cell.meanIntensity)},${number(cell.stdIntensity)},` +
      `${cell.minIntensity},${cell.maxIntensity},${cell.integratedIntensity},${pixelSizeUm ?? ""},` +
      `${pixelSizeUm === undefined ? "" : number(cell.area * pixelSizeUm * pixelSizeUm)},` +
      `${um(cell.centroidX)},${um(cell.centroidY)},` +
      `${um(cell.equivalentDiameter)},${um(cell.perimeter)},${um(cell.majorAxis)},${um(cell.minorAxis)}\n`;
  }
  return rows;
}

/** Which image a summary row describes. */
export interface SummarizedImage {
  readonly imageId: string;
  /** The file the image came from (its path inside a job, or as given to the CLI). */
  readonly fileName: string;
  readonly width: number;
  readonly height: number;
  /** The type most of its cells have; null without cells. */
  readonly cellType: CellType | null;
  readonly pixelSizeUm?: number;
}

/**
 * The image's row of `summary.csv` (no header).
 *
 * @example
 * ```ts
 * const row = summaryRow(
 *   { imageId: "A01", fileName: "plate-1/A01.tif", width: 704, height: 520, cellType: "astro" },
 *   summary,
 * );
 * ```
 */
export function summaryRow(image: SummarizedImage, summary: ImageSummary): string {
  const { pixelSizeUm } = image;
  const optional = (value: number | undefined) => (value === undefined ? "" : number(value));
  const squareUm = (value: number | undefined) =>
    value === undefined || pixelSizeUm === undefined ? "" : number(value * pixelSizeUm * pixelSizeUm);
  return `${[
    csvField(image.imageId),
    csvField(image.fileName),
    image.width,
    image.height,
    pixelSizeUm ?? "",
    image.cellType ?? "",
    summary.cells,
    ...CELL_TYPES.map((type) => summary.cellsPerType[type]),
    number(summary.confluencePct),
    optional(summary.meanArea),
    optional(summary.medianArea),
    squareUm(summary.meanArea),
    squareUm(summary.medianArea),
    optional(summary.meanIntensityInside),
    optional(summary.meanIntensityOutside),
  ].join(",")}\n`;
}

const SCALE = 10 ** DECIMALS;

/** The written decimals of every fraction f / SCALE (f > 0), trailing zeros dropped: "5" for 5000, "0005" for 5. */
const FRACTIONS = Array.from({ length: SCALE }, (_, fraction) =>
  String(SCALE + fraction)
    .slice(1)
    .replace(/0+$/, ""),
);

/**
 * The value rounded to DECIMALS, written as String writes that rounded number (shortest form, no trailing
 * zeros): below 10^15 units of the last decimal, that is the integer part and the fraction's decimals, put
 * together here from the rounded integer because a dense image has tens of thousands of values and
 * String's own shortest-form search costs more.
 */
function number(value: number): string {
  const units = Math.round(value * SCALE);
  const fraction = units % SCALE;
  if (fraction === 0 || !(Math.abs(units) < 1e15)) return String(units / SCALE);
  const whole = (units - fraction) / SCALE;
  return units < 0 ? `-${-whole}.${FRACTIONS[-fraction]}` : `${whole}.${FRACTIONS[fraction]}`;
}
