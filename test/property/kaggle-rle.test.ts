import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { maskFromPixelIndices, maskPixelIndices } from "../../core/masks/binary-mask";
import { decodeKaggleRle, encodeKaggleRle } from "../../core/masks/kaggle-rle";
import { imageSize, mask } from "./mask-arbitraries";

describe("Kaggle RLE properties", () => {
  it("decodes what it encodes to the same pixels, as a tight crop", () => {
    fc.assert(
      fc.property(mask, (original) => {
        // Act
        const decoded = decodeKaggleRle(encodeKaggleRle(original), original.imageWidth, original.imageHeight);

        // Assess
        expect(decoded).toEqual(
          maskFromPixelIndices(maskPixelIndices(original), original.imageWidth, original.imageHeight),
        );
      }),
    );
  });

  it("encodes any valid run list (unsorted, overlapping, split) canonically", () => {
    const runsIn = ({ width, height }: { width: number; height: number }) =>
      fc.array(
        fc
          .integer({ min: 0, max: width * height - 1 })
          .chain((start) => fc.tuple(fc.constant(start), fc.integer({ min: 1, max: width * height - start }))),
        { maxLength: 8 },
      );
    fc.assert(
      fc.property(
        imageSize.chain((size) => fc.tuple(fc.constant(size), runsIn(size))),
        ([{ width, height }, runs]) => {
          // Prepare: the canonical string straight from the definition, over a full-size pixel array.
          const pixels = new Uint8Array(width * height);
          for (const [start, length] of runs) pixels.fill(1, start, start + length);
          const canonical: number[] = [];
          pixels.forEach((on, i) => {
            if (!on) return;
            if (i > 0 && pixels[i - 1]) canonical[canonical.length - 1]++;
            else canonical.push(i + 1, 1);
          });
          const rle = runs.map(([start, length]) => `${start + 1} ${length}`).join(" ");

          // Act
          const encoded = encodeKaggleRle(decodeKaggleRle(rle, width, height));

          // Assess
          expect(encoded).toBe(canonical.join(" "));
        },
      ),
    );
  });
});
