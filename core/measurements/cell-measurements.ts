/**
 * Per-cell measurements (size, position, shape, intensity) of a segmented image, read from its label map
 * so that every row names the cell by its value in the label image, and from the original image's pixels
 * in their own units (8- or 16-bit), never the normalised model input.
 */
import type { CellType, GrayImage, Instance } from "../types";
import { regionProperties, type RegionShape } from "./region-properties";

/** One cell's measurements; lengths in pixels, unless a pixel size was known (the `Um` fields). */
export interface CellMeasurement extends RegionShape {
  /** The cell's value in the label image: its 1-based index in the image's instances. */
  readonly cellId: number;
  readonly cellType: CellType;
  readonly score: number;
  /** sqrt(4 area / pi): the diameter of a disc of the same area. */
  readonly equivalentDiameter: number;
  /** area / convex hull area. */
  readonly solidity: number;
  /** 4 pi area / perimeter^2 (1 for a disc; lower for ragged or elongated cells). */
  readonly formFactor: number;
  /** Whether the cell has a pixel in the image's first or last row or column (it may be cut off). */
  readonly touchesBorder: boolean;
  readonly meanIntensity: number;
  /** Population standard deviation (numpy's default, ddof 0). */
  readonly stdIntensity: number;
  readonly minIntensity: number;
  readonly maxIntensity: number;
  /** The sum of the cell's pixel values. */
  readonly integratedIntensity: number;
}

/**
 * Measures every cell of `labels` (see labelMap: value i + 1 for `instances[i]`). A cell that kept no
 * pixel in the label map (only possible when instances overlap) has no row, as it has no label.
 *
 * @throws RangeError when the label map or an instance does not fit the image.
 * @example
 * ```ts
 * const labels = labelMap(instances, image.width, image.height);
 * const rows = measureCells(image, labels, instances);
 * console.log(rows[0]?.cellId, rows[0]?.area, rows[0]?.meanIntensity);
 * ```
 */
export function measureCells(image: GrayImage, labels: Uint16Array, instances: readonly Instance[]): CellMeasurement[] {
  const { width, height } = image;
  if (labels.length !== width * height)
    throw new RangeError(`The label map holds ${labels.length} pixels, the image ${width}x${height}`);
  const rows: CellMeasurement[] = [];
  for (let index = 0; index < instances.length; index++) {
    const instance = instances[index]!;
    const cellId = index + 1;
    const { mask } = instance;
    if (mask.imageWidth !== width || mask.imageHeight !== height) {
      throw new RangeError(
        `Cell ${cellId} has a mask of a ${mask.imageWidth}x${mask.imageHeight} image, not ${width}x${height}`,
      );
    }
    const region = regionProperties(image, labels, cellId, mask);
    if (region === undefined) continue;
    const mean = region.intensitySum / region.area;
    rows.push({
      area: region.area,
      centroidX: region.centroidX,
      centroidY: region.centroidY,
      bboxX: region.bboxX,
      bboxY: region.bboxY,
      bboxWidth: region.bboxWidth,
      bboxHeight: region.bboxHeight,
      perimeter: region.perimeter,
      majorAxis: region.majorAxis,
      minorAxis: region.minorAxis,
      eccentricity: region.eccentricity,
      orientation: region.orientation,
      convexArea: region.convexArea,
      cellId,
      cellType: instance.cellType,
      score: instance.score,
      equivalentDiameter: Math.sqrt((4 * region.area) / Math.PI),
      solidity: region.convexArea > 0 ? region.area / region.convexArea : 1,
      formFactor: region.perimeter > 0 ? (4 * Math.PI * region.area) / region.perimeter ** 2 : 0,
      touchesBorder:
        region.bboxX === 0 ||
        region.bboxY === 0 ||
        region.bboxX + region.bboxWidth === width ||
        region.bboxY + region.bboxHeight === height,
      meanIntensity: mean,
      // Sums of integers below 2^53 are exact, so the one-pass variance loses nothing that matters here.
      stdIntensity: Math.sqrt(Math.max(0, region.intensitySumOfSquares / region.area - mean * mean)),
      minIntensity: region.intensityMin,
      maxIntensity: region.intensityMax,
      integratedIntensity: region.intensitySum,
    });
  }
  return rows;
}
