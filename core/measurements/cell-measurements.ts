/**
 * Per-cell measurements (size, position, shape, intensity) of a segmented image, read from its label map
 * so that every row names the cell by its value in the label image, and from the original image's pixels
 * in their own units (8- or 16-bit), never the normalised model input.
 */
import type { BinaryMask, CellType, GrayImage, Instance } from "../types";
import { regionShape, type RegionShape } from "./region-properties";

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
  const { width, height, pixels } = image;
  if (labels.length !== width * height) throw new RangeError(`The label map holds ${labels.length} pixels, the image ${width}x${height}`);
  const rows: CellMeasurement[] = [];
  instances.forEach((instance, index) => {
    const cellId = index + 1;
    const region = cellRegion(instance.mask, labels, cellId, width, height);
    const shape = regionShape(region);
    if (shape === undefined) return;
    let sum = 0;
    let sumSquares = 0;
    let min = Infinity;
    let max = -Infinity;
    const { data, width: regionWidth, height: regionHeight } = region;
    // The margin lies outside the cell, so only the rows and columns inside it are read.
    for (let y = 1; y < regionHeight - 1; y++) {
      const pixelRow = (region.top + y) * width + region.left;
      for (let x = 1, i = y * regionWidth + 1; x < regionWidth - 1; x++, i++) {
        if (data[i] === 0) continue;
        const value = pixels[pixelRow + x]!;
        sum += value;
        sumSquares += value * value;
        if (value < min) min = value;
        if (value > max) max = value;
      }
    }
    const mean = sum / shape.area;
    rows.push({
      area: shape.area,
      centroidX: shape.centroidX,
      centroidY: shape.centroidY,
      bboxX: shape.bboxX,
      bboxY: shape.bboxY,
      bboxWidth: shape.bboxWidth,
      bboxHeight: shape.bboxHeight,
      perimeter: shape.perimeter,
      majorAxis: shape.majorAxis,
      minorAxis: shape.minorAxis,
      eccentricity: shape.eccentricity,
      orientation: shape.orientation,
      convexArea: shape.convexArea,
      cellId,
      cellType: instance.cellType,
      score: instance.score,
      equivalentDiameter: Math.sqrt((4 * shape.area) / Math.PI),
      solidity: shape.convexArea > 0 ? shape.area / shape.convexArea : 1,
      formFactor: shape.perimeter > 0 ? (4 * Math.PI * shape.area) / shape.perimeter ** 2 : 0,
      touchesBorder: shape.bboxX === 0 || shape.bboxY === 0 || shape.bboxX + shape.bboxWidth === width || shape.bboxY + shape.bboxHeight === height,
      meanIntensity: mean,
      // Sums of integers below 2^53 are exact, so the one-pass variance loses nothing that matters here.
      stdIntensity: Math.sqrt(Math.max(0, sumSquares / shape.area - mean * mean)),
      minIntensity: min,
      maxIntensity: max,
      integratedIntensity: sum,
    });
  });
  return rows;
}

/**
 * The pixels of `labels` equal to `cellId` inside the instance's mask crop, as a mask of their own with
 * the empty one-pixel margin regionShape works on.
 */
function cellRegion(mask: BinaryMask, labels: Uint16Array, cellId: number, width: number, height: number): BinaryMask {
  if (mask.imageWidth !== width || mask.imageHeight !== height) {
    throw new RangeError(`Cell ${cellId} has a mask of a ${mask.imageWidth}x${mask.imageHeight} image, not ${width}x${height}`);
  }
  const paddedWidth = mask.width + 2;
  const data = new Uint8Array(paddedWidth * (mask.height + 2));
  for (let y = 0; y < mask.height; y++) {
    const row = (mask.top + y) * width + mask.left;
    const target = (y + 1) * paddedWidth + 1;
    for (let x = 0; x < mask.width; x++) if (labels[row + x] === cellId) data[target + x] = 1;
  }
  return { imageWidth: width, imageHeight: height, left: mask.left - 1, top: mask.top - 1, width: paddedWidth, height: mask.height + 2, data };
}
