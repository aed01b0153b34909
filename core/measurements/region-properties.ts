/**
 * The shape properties of one region, defined as scikit-image's `regionprops` defines them (0.19, the
 * reference most bioimage users know; CellProfiler's MeasureObjectSizeShape uses the same ones), so that a
 * number here means what it means in a Python notebook. Pixel (x, y) has its centre at (x, y), as in numpy.
 */
import { polygonHull } from "d3-polygon";
import type { BinaryMask } from "../types";

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
  /** `regionprops` `orientation`: from the row axis to the major axis, -pi/2..pi/2, counter-clockwise as displayed. */
  readonly orientation: number;
  /** Pixels of the convex hull image (skimage's `convex_hull_image` of the region's crop). */
  readonly convexArea: number;
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
 * The region's shape properties, or undefined when the mask has no pixels.
 *
 * @example
 * ```ts
 * const shape = regionShape(maskFromPixelIndices([5, 6, 9, 10], 4, 4)); // a 2 x 2 square
 * shape?.area;      // 4
 * shape?.perimeter; // 4: skimage counts a 2 x 2 square's border pixels' links, not its outer edge
 * ```
 */
export function regionShape(mask: BinaryMask): RegionShape | undefined {
  const { width, height, data } = mask;
  let area = 0;
  let sumX = 0;
  let sumY = 0;
  let x1 = width;
  let y1 = height;
  let x2 = -1;
  let y2 = -1;
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      if (!data[i]) continue;
      area++;
      sumX += x;
      sumY += y;
      if (x < x1) x1 = x;
      if (x > x2) x2 = x;
      if (y < y1) y1 = y;
      y2 = y;
    }
  }
  if (area === 0) return undefined;
  const cx = sumX / area;
  const cy = sumY / area;
  let muXX = 0;
  let muYY = 0;
  let muXY = 0;
  for (let y = y1; y <= y2; y++) {
    for (let x = x1; x <= x2; x++) {
      if (!data[y * width + x]) continue;
      muXX += (x - cx) * (x - cx);
      muYY += (y - cy) * (y - cy);
      muXY += (x - cx) * (y - cy);
    }
  }
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
    centroidX: mask.left + cx,
    centroidY: mask.top + cy,
    bboxX: mask.left + x1,
    bboxY: mask.top + y1,
    bboxWidth: x2 - x1 + 1,
    bboxHeight: y2 - y1 + 1,
    perimeter: perimeter(mask),
    majorAxis: 4 * Math.sqrt(major),
    minorAxis: 4 * Math.sqrt(minor),
    eccentricity: major === 0 ? 0 : Math.sqrt(1 - minor / major),
    orientation,
    convexArea: convexArea(mask),
  };
}

/**
 * skimage.measure.perimeter(neighbourhood=4): the border pixels (those a 4-connected erosion removes) are
 * linked to their border neighbours, straight links counting 1 and diagonal ones sqrt(2).
 */
function perimeter(mask: BinaryMask): number {
  const { width, height, data } = mask;
  const at = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && data[y * width + x] !== 0;
  const border = new Uint8Array(width * height);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      if (data[i] && !(at(x - 1, y) && at(x + 1, y) && at(x, y - 1) && at(x, y + 1))) border[i] = 1;
    }
  }
  const isBorder = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && border[y * width + x] === 1;
  let total = 0;
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      if (!border[i]) continue;
      const straight = +isBorder(x - 1, y) + +isBorder(x + 1, y) + +isBorder(x, y - 1) + +isBorder(x, y + 1);
      const diagonal = +isBorder(x - 1, y - 1) + +isBorder(x + 1, y - 1) + +isBorder(x - 1, y + 1) + +isBorder(x + 1, y + 1);
      total += PERIMETER_WEIGHTS[1 + 2 * straight + 10 * diagonal];
    }
  }
  return total;
}

/** How far from an edge a pixel centre still counts as on it (the hull's vertices are half-integers). */
const ON_EDGE = 1e-9;

/**
 * skimage's `convex_hull_image`: the hull of the pixels' edge midpoints (each pixel a diamond of radius
 * 1/2), then every pixel whose centre lies inside it or on its boundary. Only the first and last pixel of
 * each row can be hull vertices, as skimage's `possible_hull` also uses.
 */
function convexArea(mask: BinaryMask): number {
  const { width, height, data } = mask;
  const points: [number, number][] = [];
  for (let y = 0; y < height; y++) {
    let first = -1;
    let last = -1;
    for (let x = 0; x < width; x++) {
      if (!data[y * width + x]) continue;
      if (first < 0) first = x;
      last = x;
    }
    if (first < 0) continue;
    for (const x of first === last ? [first] : [first, last]) points.push([x - 0.5, y], [x + 0.5, y], [x, y - 0.5], [x, y + 0.5]);
  }
  const hull = polygonHull(points);
  if (hull === null) return 0;
  let count = 0;
  // The hull is convex: each row of pixel centres meets it in one interval.
  for (let y = 0; y < height; y++) {
    let left = Infinity;
    let right = -Infinity;
    for (let i = 0, j = hull.length - 1; i < hull.length; j = i++) {
      const [xi, yi] = hull[i]!;
      const [xj, yj] = hull[j]!;
      if (y < Math.min(yi, yj) - ON_EDGE || y > Math.max(yi, yj) + ON_EDGE) continue;
      if (Math.abs(yj - yi) < ON_EDGE) {
        left = Math.min(left, xi, xj);
        right = Math.max(right, xi, xj);
        continue;
      }
      const x = xi + ((y - yi) * (xj - xi)) / (yj - yi);
      left = Math.min(left, x);
      right = Math.max(right, x);
    }
    if (right >= left) count += Math.max(0, Math.min(width - 1, Math.floor(right + ON_EDGE)) - Math.max(0, Math.ceil(left - ON_EDGE)) + 1);
  }
  return count;
}
