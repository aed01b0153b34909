/**
 * The properties of one region of a label map, defined as scikit-image's `regionprops` defines them (0.19,
 * the reference most bioimage users know; CellProfiler's MeasureObjectSizeShape uses the same ones), so that
 * a number here means what it means in a Python notebook. Pixel (x, y) has its centre at (x, y), as in numpy.
 */
import { ScratchArray } from "../scratch-array";
import type { GrayImage } from "../types";

/** The shape of a region, in pixels (and radians for the orientation). */
export interface RegionShape {
  readonly area: number;
  /** Mean column and row of the region's pixels. */
  readonly centroidX: number;
  readonly centroidY: number;
  /** Tight box: first column and row, and the size in pixels. */
  readonly bboxX: number;
  readonly bboxY: number;
  readonly bboxWidth: number;
  readonly bboxHeight: number;
  /** `regionprops` `perimeter`: skimage.measure.perimeter with 4-connectivity. */
  readonly perimeter: number;
  /** 4 sqrt(eigenvalue) of the inertia tensor: the axes of the ellipse with the region's second moments. */
  readonly majorAxis: number;
  readonly minorAxis: number;
  readonly eccentricity: number;
  /**
   * `regionprops` `orientation`: the angle from the row (vertical) axis to the major axis, -pi/2..pi/2;
   * pi/4 for a cell running like '/' as the image is displayed, -pi/4 like '\\'.
   */
  readonly orientation: number;
  /** Pixels of the convex hull image (skimage's `convex_hull_image` of the region's crop). */
  readonly convexArea: number;
}

/** A region's shape and the sums of its pixel values (`regionprops`' intensity properties derive from them). */
export interface RegionProperties extends RegionShape {
  readonly intensitySum: number;
  readonly intensitySumOfSquares: number;
  readonly intensityMin: number;
  readonly intensityMax: number;
}

/** Where a region lies in its label map: the crop that holds every pixel of it, in image pixels. */
export interface RegionCrop {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/**
 * Weight of a border pixel by its code 1 + 2 x (border 4-neighbours) + 10 x (border diagonal neighbours),
 * as skimage.measure.perimeter weights the histogram of its convolution.
 */
const PERIMETER_WEIGHTS = (() => {
  const weights = new Float64Array(50);
  for (const code of [5, 7, 15, 17, 25, 27]) weights[code] = 1;
  for (const code of [21, 33]) weights[code] = Math.SQRT2;
  for (const code of [13, 23]) weights[code] = (1 + Math.SQRT2) / 2;
  return weights;
})();

/**
 * The properties of the region of `labels` (one value per pixel of `image`) that holds `label` inside
 * `crop`, or undefined when no pixel of the crop holds it. Pixels outside the crop never count as the
 * region's, even if they hold the label.
 *
 * @throws RangeError when the label map does not fit the image or the crop leaves it.
 * @example
 * ```ts
 * // A 2 x 2 square at (1, 1) of a 4 x 4 image (`image`, a GrayImage of that size).
 * const labels = Uint16Array.from([0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
 * const region = regionProperties(image, labels, 1, { left: 0, top: 0, width: 4, height: 4 });
 * region?.area;      // 4
 * region?.perimeter; // 4: skimage counts a 2 x 2 square's border pixels' links, not its outer edge
 * ```
 */
export function regionProperties(
  image: GrayImage,
  labels: Uint16Array,
  label: number,
  crop: RegionCrop,
): RegionProperties | undefined {
  const { width: imageWidth, height: imageHeight, pixels } = image;
  const { left, top, width, height } = crop;
  if (labels.length !== imageWidth * imageHeight)
    throw new RangeError(`The label map holds ${labels.length} pixels, the image ${imageWidth}x${imageHeight}`);
  if (left < 0 || top < 0 || left + width > imageWidth || top + height > imageHeight) {
    throw new RangeError(
      `The crop ${width}x${height} at (${left}, ${top}) leaves the ${imageWidth}x${imageHeight} image`,
    );
  }
  // Crop pixel (x, y) is (x + 1, y + 1) here, as in a copy of the crop with an empty one-pixel margin: indices
  // into such a copy spare the perimeter's neighbour lookups a bounds check, and the moments are summed in
  // these small coordinates, so that the central ones derived from them lose nothing that shows in 4 decimals.
  const paddedWidth = width + 2;
  const paddedHeight = height + 2;
  const firsts = FIRSTS.atLeast(paddedHeight);
  const lasts = LASTS.atLeast(paddedHeight);
  const borders = BORDERS.atLeast(width * height);
  // One pass: the raw moments, the box, each row's first and last pixel, the intensity sums, and the border
  // pixels (those a 4-connected erosion removes; the crop's edge counts as outside), listed in row order.
  let area = 0;
  let sumX = 0;
  let sumY = 0;
  let sumXX = 0;
  let sumYY = 0;
  let sumXY = 0;
  let x1 = paddedWidth;
  let x2 = -1;
  let y1 = paddedHeight;
  let y2 = -1;
  let borderCount = 0;
  let intensitySum = 0;
  let intensitySumOfSquares = 0;
  let intensityMin = Infinity;
  let intensityMax = -Infinity;
  for (let y = 1; y <= height; y++) {
    let first = -1;
    let last = -1;
    let rowArea = 0;
    let rowSumX = 0;
    let rowSumXX = 0;
    const rowStart = (top + y - 1) * imageWidth + left - 1;
    for (let x = 1; x <= width; x++) {
      const i = rowStart + x;
      if (labels[i] !== label) continue;
      if (first < 0) first = x;
      last = x;
      rowArea++;
      rowSumX += x;
      rowSumXX += x * x;
      const value = pixels[i]!;
      intensitySum += value;
      intensitySumOfSquares += value * value;
      if (value < intensityMin) intensityMin = value;
      if (value > intensityMax) intensityMax = value;
      const awayFromEdge = x > 1 && x < width && y > 1 && y < height;
      const inside =
        awayFromEdge &&
        labels[i - 1] === label &&
        labels[i + 1] === label &&
        labels[i - imageWidth] === label &&
        labels[i + imageWidth] === label;
      if (!inside) borders[borderCount++] = y * paddedWidth + x;
    }
    firsts[y] = first;
    lasts[y] = last;
    if (rowArea === 0) continue;
    area += rowArea;
    sumX += rowSumX;
    sumXX += rowSumXX;
    sumY += rowArea * y;
    sumYY += rowArea * y * y;
    sumXY += rowSumX * y;
    if (first < x1) x1 = first;
    if (last > x2) x2 = last;
    if (y1 > y) y1 = y;
    y2 = y;
  }
  firsts[0] = lasts[0] = firsts[paddedHeight - 1] = lasts[paddedHeight - 1] = -1;
  if (area === 0) return undefined;
  const cx = sumX / area;
  const cy = sumY / area;
  const muXX = sumXX - area * cx * cx;
  const muYY = sumYY - area * cy * cy;
  const muXY = sumXY - area * cx * cy;
  // skimage's inertia tensor in (row, column) order: [[muXX, -muXY], [-muXY, muYY]] / area.
  const a = muXX / area;
  const b = -muXY / area;
  const c = muYY / area;
  const half = Math.sqrt(((a - c) / 2) ** 2 + b * b);
  const major = Math.max((a + c) / 2 + half, 0);
  const minor = Math.max((a + c) / 2 - half, 0);
  const orientation = a - c === 0 ? (b < 0 ? -Math.PI / 4 : Math.PI / 4) : 0.5 * Math.atan2(-2 * b, c - a);
  return {
    area,
    centroidX: left - 1 + cx,
    centroidY: top - 1 + cy,
    bboxX: left - 1 + x1,
    bboxY: top - 1 + y1,
    bboxWidth: x2 - x1 + 1,
    bboxHeight: y2 - y1 + 1,
    perimeter: perimeter(borders, borderCount, paddedWidth, paddedHeight),
    majorAxis: 4 * Math.sqrt(major),
    minorAxis: 4 * Math.sqrt(minor),
    eccentricity: major === 0 ? 0 : Math.sqrt(1 - minor / major),
    orientation,
    convexArea: convexArea(firsts, lasts, paddedHeight),
    intensitySum,
    intensitySumOfSquares,
    intensityMin,
    intensityMax,
  };
}

/** Each row's first and last pixel, the border pixels as a list and as a map of the crop, the hull's two chains. */
const FIRSTS = new ScratchArray((length) => new Int32Array(length));
const LASTS = new ScratchArray((length) => new Int32Array(length));
const BORDERS = new ScratchArray((length) => new Int32Array(length));
const IS_BORDER = new ScratchArray((length) => new Uint8Array(length));
const RIGHT_XS = new ScratchArray((length) => new Float64Array(length));
const RIGHT_YS = new ScratchArray((length) => new Float64Array(length));
const LEFT_XS = new ScratchArray((length) => new Float64Array(length));
const LEFT_YS = new ScratchArray((length) => new Float64Array(length));

/**
 * skimage.measure.perimeter(neighbourhood=4): the border pixels (indices into the crop with its margin, in row
 * order) are linked to their border neighbours, straight links counting 1 and diagonal ones sqrt(2).
 */
function perimeter(borders: Int32Array, count: number, w: number, height: number): number {
  const isBorder = IS_BORDER.atLeast(w * height);
  for (let k = 0; k < count; k++) isBorder[borders[k]!] = 1;
  let total = 0;
  for (let k = 0; k < count; k++) {
    const i = borders[k]!;
    const straight = isBorder[i - 1]! + isBorder[i + 1]! + isBorder[i - w]! + isBorder[i + w]!;
    const diagonal = isBorder[i - w - 1]! + isBorder[i - w + 1]! + isBorder[i + w - 1]! + isBorder[i + w + 1]!;
    total += PERIMETER_WEIGHTS[1 + 2 * straight + 10 * diagonal]!;
  }
  // Cleared where it was set, so the next region finds it all zeros without a fill of its whole crop.
  for (let k = 0; k < count; k++) isBorder[borders[k]!] = 0;
  return total;
}

/**
 * skimage's `convex_hull_image`: the hull of the pixels' edge midpoints (each pixel a diamond of radius
 * 1/2), then every pixel whose centre lies inside it or on its boundary. Each row of pixel centres meets
 * the hull in one interval, bounded by the hull's right and left chains: the concave envelope (in x, as a
 * function of y) of the rightmost diamond point at each height, and the convex one of the leftmost. Those
 * points are the first and last pixel of each row pushed out by 1/2 (at the row's height) and the two
 * rows' extreme pixels between rows (at the half-integer height), so the chains are built in one pass in
 * height order, as Andrew's monotone chain builds a hull.
 */
function convexArea(firsts: Int32Array, lasts: Int32Array, height: number): number {
  const rightXs = RIGHT_XS.atLeast(3 * height + 1);
  const rightYs = RIGHT_YS.atLeast(3 * height + 1);
  const leftXs = LEFT_XS.atLeast(3 * height + 1);
  const leftYs = LEFT_YS.atLeast(3 * height + 1);
  const rightLength = envelope(lasts, firsts, height, 1, rightXs, rightYs);
  const leftLength = envelope(firsts, firsts, height, -1, leftXs, leftYs);
  let count = 0;
  for (let y = 0, r = 0, l = 0; y < height; y++) {
    if (y < rightYs[0]! || y > rightYs[rightLength - 1]!) continue;
    while (rightYs[r + 1]! < y) r++;
    while (leftYs[l + 1]! < y) l++;
    const xr = at(rightXs, rightYs, rightLength, r, y);
    const xl = at(leftXs, leftYs, leftLength, l, y);
    count += Math.floor(xr + ON_EDGE) - Math.ceil(xl - ON_EDGE) + 1;
  }
  return count;
}

/** How far from an edge a pixel centre still counts as on it (the hull's vertices are half-integers). */
const ON_EDGE = 1e-9;

/** A chain's x at height y, on its segment from vertex i (ys[i] <= y <= ys[i + 1]); vertices by increasing height. */
function at(xs: Float64Array, ys: Float64Array, length: number, i: number, y: number): number {
  if (i + 1 >= length || ys[i + 1] === ys[i]) return xs[i]!;
  return xs[i]! + ((y - ys[i]!) * (xs[i + 1]! - xs[i]!)) / (ys[i + 1]! - ys[i]!);
}

/**
 * The right (side 1, `extreme` the rows' last pixels) or left (side -1, their first pixels) chain of the
 * hull into xs and ys: of the extreme points at each height (the outermost of the rows above and below,
 * between rows), the ones on the envelope. Returns the chain's length.
 */
function envelope(
  extreme: Int32Array,
  firsts: Int32Array,
  height: number,
  side: 1 | -1,
  xs: Float64Array,
  ys: Float64Array,
): number {
  let length = 0;
  let previousRow = -2;
  for (let row = 0; row < height; row++) {
    if (firsts[row]! < 0) continue;
    const x = extreme[row]!;
    // The row's top point; right below another row, the outer of the two rows' points at that height, so
    // this one replaces the row above's bottom point only when it lies further out.
    if (previousRow !== row - 1) length = pushVertex(xs, ys, length, x, row - 0.5, side);
    else if (side * x > side * xs[length - 1]!) length = pushVertex(xs, ys, length - 1, x, row - 0.5, side);
    // Its outer point and its bottom point.
    length = pushVertex(xs, ys, length, x + side * 0.5, row, side);
    length = pushVertex(xs, ys, length, x, row + 0.5, side);
    previousRow = row;
  }
  return length;
}

/**
 * Appends (x, y) to the chain of `length` vertices, first dropping the last vertex while it is not strictly
 * outside the segment from the one before it to the new point (x measured outwards, so that one test serves
 * both sides). Returns the chain's new length.
 */
function pushVertex(xs: Float64Array, ys: Float64Array, length: number, x: number, y: number, side: 1 | -1): number {
  while (length >= 2) {
    const cross =
      (xs[length - 1]! - xs[length - 2]!) * (y - ys[length - 2]!) -
      (x - xs[length - 2]!) * (ys[length - 1]! - ys[length - 2]!);
    if (side * cross > 0) break;
    length--;
  }
  xs[length] = x;
  ys[length] = y;
  return length + 1;
}
