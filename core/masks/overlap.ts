import type { BinaryMask } from "../types";

/**
 * Makes masks disjoint: each pixel goes to the first mask (in the given order) that claims it.
 * Callers pass candidates sorted by descending score, so a confident cell keeps its whole shape and a
 * doubtful one loses the contested pixels; this is what the competition's strong entries did, and it
 * means a candidate's final mask never depends on the candidates after it (so score thresholds can be
 * tuned without redoing the work).
 *
 * @returns for each input, in order, its remaining mask cropped to its new bounds, or null when nothing is left
 * @example
 * const disjoint = resolveOverlaps(sorted.map((c) => c.mask));
 */
export function resolveOverlaps(masks: readonly BinaryMask[]): (BinaryMask | null)[] {
  if (masks.length === 0) return [];
  const { imageWidth, imageHeight } = masks[0];
  const owner = new Int32Array(imageWidth * imageHeight).fill(-1);
  return masks.map((mask, index) => {
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -1;
    let maxY = -1;
    for (let y = 0; y < mask.height; y++) {
      const row = (mask.top + y) * imageWidth + mask.left;
      for (let x = 0; x < mask.width; x++) {
        if (mask.data[y * mask.width + x] && owner[row + x] < 0) {
          owner[row + x] = index;
          if (x < minX) minX = x;
          if (x > maxX) maxX = x;
          if (y < minY) minY = y;
          if (y > maxY) maxY = y;
        }
      }
    }
    if (maxX < 0) return null;
    const width = maxX - minX + 1;
    const height = maxY - minY + 1;
    const data = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
      const row = (mask.top + minY + y) * imageWidth + mask.left + minX;
      for (let x = 0; x < width; x++) data[y * width + x] = owner[row + x] === index ? 1 : 0;
    }
    return { imageWidth, imageHeight, left: mask.left + minX, top: mask.top + minY, width, height, data };
  });
}
