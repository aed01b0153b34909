/**
 * Per-cell measurements (size, position, shape, intensity) of a segmented image, read from its label map
 * so that every row names the cell by its value in the label image, and from the original image's pixels
 * in their own units (8- or 16-bit), never the normalised model input.
 */
import type { CellType, GrayImage, Instance } from "../types";
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
  for (let index = 0; index < instances.length; index++) {
    const instance = instances[index]!;
    const cellId = index + 1;
    const { mask } = instance;
    if (mask.imageWidth !== width || mask.imageHeight !== height) {
      throw new RangeError(`Cell ${cellId} has a mask of a ${mask.imageWidth}x${mask.imageHeight} image, not ${width}x${height}`);
    }
    // One pass over the mask's crop of the label map: the cell's pixels (those still labelled cellId) go into
    // a region with the empty one-pixel margin regionShape works on, and their intensities are summed.
    const regionWidth = mask.width + 2;
    const regionHeight = mask.height + 2;
    const data = regionScratch(regionWidth * regionHeight);
    let sum = 0;
    let sumSquares = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let y = 0; y < mask.height; y++) {
      const row = (mask.top + y) * width + mask.left;
      const target = (y + 1) * regionWidth + 1;
      for (let x = 0; x < mask.width; x++) {
        if (labels[row + x] !== cellId) continue;
        data[target + x] = 1;
        const value = pixels[row + x]!;
        sum += value;
        sumSquares += value * value;
        if (value < min) min = value;
        if (value > max) max = value;
      }
    }
    const region = { imageWidth: width, imageHeight: height, left: mask.left - 1, top: mask.top - 1, width: regionWidth, height: regionHeight, data };
    const shape = regionShape(region);
    if (shape === undefined) continue;
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
  }
  return rows;
}

/** A cleared grow-only buffer for the regions, reused from one cell to the next: allocating one per cell of a dense image costs more than measuring it. */
let regionBuffer = new Uint8Array(1024);

function regionScratch(length: number): Uint8Array {
  if (regionBuffer.length < length) regionBuffer = new Uint8Array(Math.max(length, 2 * regionBuffer.length));
  else regionBuffer.fill(0, 0, length);
  return regionBuffer.subarray(0, length);
}
