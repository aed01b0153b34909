import { formatSubmissionRows } from "../kaggle/csv";
import { measureCells } from "../measurements/cell-measurements";
import { summarizeImage } from "../measurements/image-summary";
import type { GrayImage, Instance } from "../types";
import { cocoDocument, type CocoDocument } from "./coco-json";
import { labelMap, labelMapPng } from "./label-png";
import { measurementRows, summaryRow } from "./measurements-csv";
import { outlinesGeoJson, type OutlinesDocument } from "./outlines-geojson";
import { overlayPng, type OverlayStyle } from "./overlay-png";

/** Every result format for one segmented image, as the CLI, the model server and the pipeline write them. */
export interface ImageResults {
  /** Kaggle rows for this image (no header). */
  readonly submissionRows: string;
  readonly coco: CocoDocument;
  /** 16-bit label image: pixel value = 1-based instance number. */
  readonly labelPng: Buffer;
  readonly overlayPng: Buffer;
  /** `measurements.csv` rows, one per cell (no header; none for an image without cells). */
  readonly measurementRows: string;
  /** The image's `summary.csv` row (no header). */
  readonly summaryRow: string;
  /** `<id>.geojson`: the cells' outlines. */
  readonly outlines: OutlinesDocument;
}

/** Options of {@link renderImageResults}. */
export interface RenderOptions {
  readonly overlayStyle: OverlayStyle;
  /**
   * Micrometres per pixel, which adds the micrometre columns to the measurements; the image's own
   * (a TIFF's resolution tags) when left out, else none.
   */
  readonly pixelSizeUm?: number;
}

/**
 * @example
 * const results = await renderImageResults("0030fd0e6378", "0030fd0e6378.png", image, instances, {
 *   overlayStyle: "outline",
 * });
 */
export async function renderImageResults(
  id: string,
  fileName: string,
  image: GrayImage,
  instances: readonly Instance[],
  options: RenderOptions,
): Promise<ImageResults> {
  const { width, height } = image;
  const labels = labelMap(instances, width, height);
  const [labelImage, overlay] = await Promise.all([
    labelMapPng(labels, width, height),
    overlayPng(image, instances, { style: options.overlayStyle }),
  ]);
  return {
    submissionRows: formatSubmissionRows(id, instances),
    coco: cocoDocument([{ id, fileName, width, height, instances }]),
    labelPng: labelImage,
    overlayPng: overlay,
    ...measuredResults(id, fileName, image, instances, labels, options.pixelSizeUm),
  };
}

/** The formats that measure the cells: what a caller that writes no image files needs. */
export type MeasuredResults = Pick<ImageResults, "measurementRows" | "summaryRow" | "outlines">;

/**
 * The measurements rows, the summary row and the outlines of one segmented image, from its label map
 * (`labelMap(instances, width, height)`). `pixelSizeUm` as {@link RenderOptions}'.
 * @example
 * const { measurementRows } = measuredResults("a01", "a01.png", image, instances, labelMap(instances, w, h));
 */
export function measuredResults(
  id: string,
  fileName: string,
  image: GrayImage,
  instances: readonly Instance[],
  labels: Uint16Array,
  pixelSizeUm: number | undefined = image.pixelSizeUm,
): MeasuredResults {
  const { width, height } = image;
  const cells = measureCells(image, labels, instances);
  const summary = summarizeImage(image, cells);
  return {
    measurementRows: measurementRows(id, cells, pixelSizeUm),
    summaryRow: summaryRow(
      {
        imageId: id,
        fileName,
        width,
        height,
        cellType: instances[0]?.cellType ?? null,
        ...(pixelSizeUm !== undefined ? { pixelSizeUm } : {}),
      },
      summary,
    ),
    outlines: outlinesGeoJson(labels, width, instances),
  };
}
