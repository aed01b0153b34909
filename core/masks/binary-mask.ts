/**
 * Small helpers on {@link BinaryMask}: area, box, pixel lists, and the run-length view that both RLE formats
 * (Kaggle's row-major, COCO's column-major) are built on.
 */
import type { BinaryMask, Box } from "../types";

/** Which way pixels are numbered: Kaggle numbers row by row, COCO (Fortran order) column by column. */
export type PixelOrder = "row-major" | "column-major";

/**
 * A mask with no pixels: a zero-size crop at the origin.
 *
 * @example
 * maskArea(emptyMask(704, 520)); // 0
 */
export function emptyMask(imageWidth: number, imageHeight: number): BinaryMask {
  return { imageWidth, imageHeight, left: 0, top: 0, width: 0, height: 0, data: new Uint8Array(0) };
}

/**
 * The number of pixels in the mask.
 *
 * @example
 * maskArea(maskFromPixelIndices([0, 1, 5], 4, 4)); // 3
 */
export function maskArea(mask: BinaryMask): number {
  let area = 0;
  for (const value of mask.data) area += value ? 1 : 0;
  return area;
}

/**
 * The tight box of the mask's pixels (the crop may be larger); `[0, 0, 0, 0]` for an empty mask, as
 * pycocotools' `toBbox` gives.
 *
 * @example
 * maskBox(maskFromPixelIndices([5, 6, 9], 4, 4)); // [1, 1, 3, 3]
 */
export function maskBox(mask: BinaryMask): Box {
  const { width, height, data } = mask;
  let x1 = width;
  let y1 = height;
  let x2 = -1;
  let y2 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!data[y * width + x]) continue;
      x1 = Math.min(x1, x);
      x2 = Math.max(x2, x);
      y1 = Math.min(y1, y);
      y2 = y;
    }
  }
  if (y2 < 0) return [0, 0, 0, 0];
  return [mask.left + x1, mask.top + y1, mask.left + x2 + 1, mask.top + y2 + 1];
}

/**
 * The mask's pixels as sorted row-major indices `y * imageWidth + x` into the whole image.
 *
 * @example
 * maskPixelIndices(maskFromPixelIndices([9, 5, 6], 4, 4)); // Uint32Array [5, 6, 9]
 */
export function maskPixelIndices(mask: BinaryMask): Uint32Array {
  const indices = new Uint32Array(maskArea(mask));
  let next = 0;
  for (let y = 0; y < mask.height; y++) {
    const rowStart = (mask.top + y) * mask.imageWidth + mask.left;
    for (let x = 0; x < mask.width; x++) {
      if (mask.data[y * mask.width + x]) indices[next++] = rowStart + x;
    }
  }
  return indices;
}

/**
 * A tight mask from row-major pixel indices in any order; duplicates are allowed.
 *
 * @example
 * const mask = maskFromPixelIndices([5, 6, 9], 4, 4); // left 1, top 1, 2 x 2 crop
 */
export function maskFromPixelIndices(indices: ArrayLike<number>, imageWidth: number, imageHeight: number): BinaryMask {
  const runs = new Array<number>(indices.length * 2);
  for (let i = 0; i < indices.length; i++) {
    runs[2 * i] = indices[i];
    runs[2 * i + 1] = 1;
  }
  return maskFromRuns(runs, imageWidth, imageHeight, "row-major");
}

/**
 * The number of pixels in both masks (of the same image). Only the overlap of the two crops is visited,
 * which is what makes IoU over hundreds of instances cheap.
 *
 * @example
 * maskIntersectionArea(maskFromPixelIndices([0, 1], 4, 4), maskFromPixelIndices([1, 2], 4, 4)); // 1
 */
export function maskIntersectionArea(a: BinaryMask, b: BinaryMask): number {
  const x1 = Math.max(a.left, b.left);
  const x2 = Math.min(a.left + a.width, b.left + b.width);
  const y1 = Math.max(a.top, b.top);
  const y2 = Math.min(a.top + a.height, b.top + b.height);
  let area = 0;
  for (let y = y1; y < y2; y++) {
    const rowA = (y - a.top) * a.width - a.left;
    const rowB = (y - b.top) * b.width - b.left;
    for (let x = x1; x < x2; x++) area += a.data[rowA + x] & b.data[rowB + x];
  }
  return area;
}

/**
 * The crop seen as lines (rows for row-major, columns for column-major) so that one loop serves both
 * orders: the crop's pixel at (line, position) is `data[line * lineStride + position * positionStride]`.
 */
function lineLayout(mask: BinaryMask, order: PixelOrder) {
  return order === "row-major"
    ? {
        lineLength: mask.imageWidth,
        firstLine: mask.top,
        lines: mask.height,
        firstPosition: mask.left,
        positions: mask.width,
        lineStride: mask.width,
        positionStride: 1,
      }
    : {
        lineLength: mask.imageHeight,
        firstLine: mask.left,
        lines: mask.width,
        firstPosition: mask.top,
        positions: mask.height,
        lineStride: 1,
        positionStride: mask.width,
      };
}

/**
 * The mask's runs of pixels as flat `[start, length, start, length, ...]`, starts 0-based in the given
 * order, sorted, and runs that touch across a line boundary merged: the canonical form both RLEs encode.
 *
 * @example
 * maskRuns(maskFromPixelIndices([3, 4, 9], 4, 4), "row-major"); // [3, 2, 9, 1]
 */
export function maskRuns(mask: BinaryMask, order: PixelOrder): number[] {
  const { lineLength, firstLine, lines, firstPosition, positions, lineStride, positionStride } = lineLayout(
    mask,
    order,
  );
  const { data } = mask;
  const runs: number[] = [];
  for (let line = 0; line < lines; line++) {
    const lineStart = (firstLine + line) * lineLength + firstPosition;
    let position = 0;
    while (position < positions) {
      if (!data[line * lineStride + position * positionStride]) {
        position++;
        continue;
      }
      const runStart = position;
      while (position < positions && data[line * lineStride + position * positionStride]) position++;
      const start = lineStart + runStart;
      const last = runs.length - 1;
      if (last > 0 && runs[last - 1] + runs[last] === start) runs[last] += position - runStart;
      else runs.push(start, position - runStart);
    }
  }
  return runs;
}

/**
 * A tight mask from flat `[start, length, ...]` runs (0-based, in the given order). Runs may come in any
 * order and overlap; the caller has checked that they lie inside the image.
 *
 * @example
 * const mask = maskFromRuns([9, 1, 3, 2], 4, 4, "row-major"); // pixels 3, 4 and 9
 */
export function maskFromRuns(
  runs: ArrayLike<number>,
  imageWidth: number,
  imageHeight: number,
  order: PixelOrder,
): BinaryMask {
  const lineLength = order === "row-major" ? imageWidth : imageHeight;
  let firstLine = Infinity;
  let lastLine = -1;
  let firstPosition = Infinity;
  let lastPosition = -1;
  for (let i = 0; i < runs.length; i += 2) {
    const start = runs[i];
    const end = start + runs[i + 1] - 1;
    const startLine = Math.floor(start / lineLength);
    const endLine = Math.floor(end / lineLength);
    firstLine = Math.min(firstLine, startLine);
    lastLine = Math.max(lastLine, endLine);
    // A run that wraps onto the next line reaches both edges of the image, whatever its ends are.
    firstPosition = Math.min(firstPosition, startLine === endLine ? start - startLine * lineLength : 0);
    lastPosition = Math.max(lastPosition, startLine === endLine ? end - endLine * lineLength : lineLength - 1);
  }
  if (lastLine < 0) return emptyMask(imageWidth, imageHeight);

  const lines = lastLine - firstLine + 1;
  const positions = lastPosition - firstPosition + 1;
  const data = new Uint8Array(lines * positions);
  const mask: BinaryMask =
    order === "row-major"
      ? { imageWidth, imageHeight, left: firstPosition, top: firstLine, width: positions, height: lines, data }
      : { imageWidth, imageHeight, left: firstLine, top: firstPosition, width: lines, height: positions, data };
  const { lineStride, positionStride } = lineLayout(mask, order);
  for (let i = 0; i < runs.length; i += 2) {
    const end = runs[i] + runs[i + 1];
    for (let start = runs[i]; start < end; ) {
      const line = Math.floor(start / lineLength);
      const stop = Math.min(end, (line + 1) * lineLength);
      const base = (line - firstLine) * lineStride;
      for (let position = start - line * lineLength; position < stop - line * lineLength; position++) {
        data[base + (position - firstPosition) * positionStride] = 1;
      }
      start = stop;
    }
  }
  return mask;
}
