import type { BinaryMask } from "../types";

/**
 * Pastes one M x M box-frame mask probability map into the image frame and thresholds it, exactly as
 * torchvision's `paste_masks_in_image` (padding 1) does, so that a model behaves in production as it did
 * when validated in PyTorch. Only the box's pixels are computed: no full-size map is allocated.
 *
 * @param probabilities - the masks buffer of one inference ([N, M, M], row-major)
 * @param offset - where this mask's M*M values start in `probabilities`
 * @param box - x1, y1, x2, y2 in image pixels (floats, as the model predicts them)
 * @returns the mask's crop, or null when nothing of it lies inside the image or above the threshold
 * @example
 * const mask = pasteBoxMask(detections.masks, i * 28 * 28, 28, box, 704, 520, 0.5);
 */
export function pasteBoxMask(
  probabilities: Float32Array,
  offset: number,
  maskSize: number,
  box: readonly [number, number, number, number],
  imageWidth: number,
  imageHeight: number,
  threshold: number,
): BinaryMask | null {
  // torchvision pads the mask by one pixel and widens the box by the same fraction, so that the mask's
  // border (where probabilities fall off) lands just outside the box instead of being cut at its edge.
  const padded = maskSize + 2;
  const grow = padded / maskSize;
  const halfWidth = (box[2] - box[0]) * 0.5 * grow;
  const halfHeight = (box[3] - box[1]) * 0.5 * grow;
  const centerX = (box[2] + box[0]) * 0.5;
  const centerY = (box[3] + box[1]) * 0.5;
  // Truncation toward zero, as torch's cast to int64.
  const x0 = Math.trunc(centerX - halfWidth);
  const x1 = Math.trunc(centerX + halfWidth);
  const y0 = Math.trunc(centerY - halfHeight);
  const y1 = Math.trunc(centerY + halfHeight);
  const boxWidth = Math.max(x1 - x0 + 1, 1);
  const boxHeight = Math.max(y1 - y0 + 1, 1);

  const left = Math.max(x0, 0);
  const right = Math.min(x1 + 1, imageWidth);
  const top = Math.max(y0, 0);
  const bottom = Math.min(y1 + 1, imageHeight);
  if (right <= left || bottom <= top) return null;

  const width = right - left;
  const height = bottom - top;
  const sourceX = bilinearAxis(padded, boxWidth, left - x0, width);
  const sourceY = bilinearAxis(padded, boxHeight, top - y0, height);
  const at = (row: number, col: number) => {
    // Row/col index the zero-padded map: the outer ring is 0.
    if (row <= 0 || col <= 0 || row > maskSize || col > maskSize) return 0;
    return probabilities[offset + (row - 1) * maskSize + (col - 1)];
  };

  const data = new Uint8Array(width * height);
  let any = false;
  for (let y = 0; y < height; y++) {
    const r0 = sourceY.low[y];
    const r1 = sourceY.high[y];
    const wy = sourceY.weight[y];
    for (let x = 0; x < width; x++) {
      const c0 = sourceX.low[x];
      const c1 = sourceX.high[x];
      const wx = sourceX.weight[x];
      const top0 = at(r0, c0) * (1 - wx) + at(r0, c1) * wx;
      const bottom0 = at(r1, c0) * (1 - wx) + at(r1, c1) * wx;
      if (top0 * (1 - wy) + bottom0 * wy > threshold) {
        data[y * width + x] = 1;
        any = true;
      }
    }
  }
  if (!any) return null;
  return { imageWidth, imageHeight, left, top, width, height, data };
}

/** Source indices and weights of torch's bilinear resize (align_corners=False) from `from` to `to` samples. */
function bilinearAxis(from: number, to: number, firstOutput: number, count: number) {
  const low = new Int32Array(count);
  const high = new Int32Array(count);
  const weight = new Float32Array(count);
  const ratio = from / to;
  for (let i = 0; i < count; i++) {
    const source = Math.max((firstOutput + i + 0.5) * ratio - 0.5, 0);
    const index = Math.min(Math.floor(source), from - 1);
    low[i] = index;
    high[i] = Math.min(index + 1, from - 1);
    weight[i] = source - index;
  }
  return { low, high, weight };
}
