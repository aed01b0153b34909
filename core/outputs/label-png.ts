/**
 * Instance label images: one 16-bit PNG per image whose pixel values name the instances, the format most
 * annotation tools (napari, CellProfiler, Fiji) open as a label layer.
 */
import sharp from "sharp";
import { FAST_PNG } from "./png-options";
import type { Instance } from "../types";

/** The largest 1-based label a 16-bit PNG can hold. */
export const MAX_LABELS = 65535;

/**
 * Paints the instances into a label map: pixel value = 1-based index of the instance in `instances`,
 * 0 for background. Instances should not overlap; where they do, the earlier instance keeps the pixel.
 *
 * @throws RangeError when there are more than {@link MAX_LABELS} instances or a mask belongs to an image
 *   of another size.
 * @example
 * ```ts
 * const labels = labelMap(instances, 704, 520);
 * const cellAtPixel = labels[y * 704 + x]; // 0 or 1..instances.length
 * ```
 */
export function labelMap(instances: readonly Instance[], width: number, height: number): Uint16Array {
  if (instances.length > MAX_LABELS) {
    throw new RangeError(
      `Cannot label ${instances.length} instances: a 16-bit label image holds at most ${MAX_LABELS}`,
    );
  }
  const labels = new Uint16Array(width * height);
  instances.forEach(({ mask }, index) => {
    if (mask.imageWidth !== width || mask.imageHeight !== height) {
      throw new RangeError(
        `Instance ${index} has a mask of a ${mask.imageWidth}x${mask.imageHeight} image, not ${width}x${height}`,
      );
    }
    for (let row = 0; row < mask.height; row++) {
      const source = row * mask.width;
      const target = (mask.top + row) * width + mask.left;
      for (let column = 0; column < mask.width; column++) {
        if (mask.data[source + column] !== 0 && labels[target + column] === 0) labels[target + column] = index + 1;
      }
    }
  });
  return labels;
}

/**
 * Encodes the instances as a 16-bit single-channel PNG label image (see {@link labelMap}).
 *
 * @example
 * ```ts
 * await writeFile("0030fd0e6378_labels.png", await labelPng(instances, 704, 520));
 * ```
 */
export async function labelPng(instances: readonly Instance[], width: number, height: number): Promise<Buffer> {
  return labelMapPng(labelMap(instances, width, height), width, height);
}

/**
 * Encodes a label map already painted by {@link labelMap} (for callers that also measure from it).
 *
 * @example
 * ```ts
 * const labels = labelMap(instances, 704, 520);
 * await writeFile("0030fd0e6378_labels.png", await labelMapPng(labels, 704, 520));
 * ```
 */
export async function labelMapPng(labels: Uint16Array, width: number, height: number): Promise<Buffer> {
  return sharp(labels, { raw: { width, height, channels: 1 } })
    .toColourspace("grey16")
    .png(FAST_PNG)
    .toBuffer();
}
