import fc from "fast-check";
import type { BinaryMask } from "../../core/types";

/** Image sizes from 1 x 1 to 12 x 12, so that 1 x N and N x 1 images come up often. */
export const imageSize = fc.record({ width: fc.integer({ min: 1, max: 12 }), height: fc.integer({ min: 1, max: 12 }) });

function bits(length: number) {
  return fc.oneof(
    fc.constant(new Uint8Array(length)),
    fc.constant(new Uint8Array(length).fill(1)),
    fc.uint8Array({ min: 0, max: 1, minLength: length, maxLength: length }),
  );
}

/**
 * Masks as other code builds them: any crop inside the image (empty, full image, or loose around its pixels),
 * filled with nothing, everything or random bits.
 */
export function maskIn({ width, height }: { width: number; height: number }): fc.Arbitrary<BinaryMask> {
  const data = new Uint8Array(width * height).fill(1);
  const full = { imageWidth: width, imageHeight: height, left: 0, top: 0, width, height, data };
  const cropped = fc
    .record({ left: fc.integer({ min: 0, max: width }), top: fc.integer({ min: 0, max: height }) })
    .chain(({ left, top }) =>
      fc.record({
        left: fc.constant(left),
        top: fc.constant(top),
        width: fc.integer({ min: 0, max: width - left }),
        height: fc.integer({ min: 0, max: height - top }),
      }),
    )
    .chain((crop) =>
      bits(crop.width * crop.height).map((data) => ({ imageWidth: width, imageHeight: height, ...crop, data })),
    );
  return fc.oneof({ weight: 1, arbitrary: fc.constant(full) }, { weight: 4, arbitrary: cropped });
}

/** One mask in an image of any {@link imageSize}. */
export const mask = imageSize.chain(maskIn);
