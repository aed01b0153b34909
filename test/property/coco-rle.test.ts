import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { maskFromPixelIndices, maskPixelIndices } from "../../core/masks/binary-mask";
import { decodeCocoRle, encodeCocoRle } from "../../core/masks/coco-rle";
import { mask } from "./mask-arbitraries";

describe("COCO RLE properties", () => {
  it("decodes what it encodes to the same pixels, as a tight crop", () => {
    fc.assert(
      fc.property(mask, (original) => {
        // Act
        const decoded = decodeCocoRle(encodeCocoRle(original));

        // Assess
        expect(decoded).toEqual(
          maskFromPixelIndices(maskPixelIndices(original), original.imageWidth, original.imageHeight),
        );
      }),
    );
  });

  it("compresses the run lengths of the column-major image, starting with 0-pixels", () => {
    fc.assert(
      fc.property(mask, (original) => {
        // Prepare: rleEncode's counts straight from the definition, over the Fortran-order pixel array.
        const { imageWidth: width, imageHeight: height } = original;
        const rowMajor = new Set(maskPixelIndices(original));
        const counts = [0];
        let current = 0;
        for (let x = 0; x < width; x++) {
          for (let y = 0; y < height; y++) {
            const value = rowMajor.has(y * width + x) ? 1 : 0;
            if (value !== current) counts.push(0);
            current = value;
            counts[counts.length - 1]++;
          }
        }

        // Act
        const encoded = encodeCocoRle(original);

        // Assess: the compressed string carries exactly these counts.
        expect(encoded.size).toEqual([height, width]);
        expect(decodeCocoRle(encoded)).toEqual(decodeCocoRle({ size: [height, width], counts }));
        expect(encodeCocoRle(decodeCocoRle({ size: [height, width], counts })).counts).toBe(encoded.counts);
      }),
    );
  });
});
