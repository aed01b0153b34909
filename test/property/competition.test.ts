import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { maskFromPixelIndices } from "../../core/masks/binary-mask";
import { imageScore } from "../../core/metric/competition";
import type { BinaryMask } from "../../core/types";
import { imageSize, maskIn } from "./mask-arbitraries";

/** Two lists of masks in one image; masks may overlap each other, as in the truth or a foreign file. */
const predAndTruth = imageSize.chain((size) => {
  const masks = fc.array(maskIn(size), { maxLength: 6 });
  return fc.tuple(masks, masks);
});

/** The instances of a label image (0 = background): masks that never overlap, as post-processing gives. */
function partition({ width, height }: { width: number; height: number }): fc.Arbitrary<BinaryMask[]> {
  const labelImage = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: width * height, maxLength: width * height });
  return labelImage.map((labels) =>
    [1, 2, 3, 4].map((label) =>
      maskFromPixelIndices(
        labels.flatMap((l, i) => (l === label ? [i] : [])),
        width,
        height,
      ),
    ),
  );
}

describe("competition metric properties", () => {
  it("scores between 0 and 1", () => {
    fc.assert(
      fc.property(predAndTruth, ([pred, truth]) => {
        const score = imageScore(pred, truth);
        expect(score).toBeGreaterThanOrEqual(0);
        expect(score).toBeLessThanOrEqual(1);
      }),
    );
  });

  it("scores 1 for a perfect prediction, even of overlapping or duplicate truths", () => {
    fc.assert(
      fc.property(predAndTruth, ([, truth]) => {
        expect(imageScore([...truth], truth)).toBe(1);
      }),
    );
  });

  it("is symmetric in prediction and truth when neither side overlaps itself", () => {
    fc.assert(
      fc.property(
        imageSize.chain((size) => fc.tuple(partition(size), partition(size))),
        ([pred, truth]) => {
          expect(imageScore(pred, truth)).toBe(imageScore(truth, pred));
        },
      ),
    );
  });
});
