/**
 * Kaggle's run-length encoding: space-separated `start length` pairs, `start` 1-indexed, pixels numbered
 * row-major over the image (see shared/data/sartorius/README.md: row-major, whatever the competition text
 * said). Twin of training/cellseg_train/kaggle_rle.py.
 */
import { InvalidFormatError } from "../errors";
import type { BinaryMask } from "../types";
import { maskFromRuns, maskRuns } from "./binary-mask";

/**
 * The canonical Kaggle RLE of a mask: runs sorted, runs that touch across a row boundary merged, and the
 * empty string for an empty mask.
 *
 * @example
 * encodeKaggleRle(maskFromPixelIndices([3, 4, 9], 4, 4)); // "4 2 10 1"
 */
export function encodeKaggleRle(mask: BinaryMask): string {
  const runs = maskRuns(mask, "row-major");
  for (let i = 0; i < runs.length; i += 2) runs[i] += 1;
  return runs.join(" ");
}

/**
 * Decodes a Kaggle RLE into a tight mask. Runs may come in any order and overlap, as in the hand-made
 * ground truth; the empty (or blank) string is the empty mask.
 *
 * @throws InvalidFormatError on an odd number of values, a token that is not a non-negative integer, a
 * zero-length run, or a run outside the `width` x `height` image.
 * @example
 * decodeKaggleRle("10 1 4 2", 4, 4); // pixels 3, 4 and 9 (0-based, row-major)
 */
export function decodeKaggleRle(rle: string, width: number, height: number): BinaryMask {
  const trimmed = rle.trim();
  const tokens = trimmed === "" ? [] : trimmed.split(/\s+/);
  if (tokens.length % 2 !== 0) {
    throw new InvalidFormatError(
      `Kaggle RLE has an odd number of values (${tokens.length}): expected start length pairs`,
    );
  }
  // One test of the whole string is much cheaper than one per token; the loop only finds the culprit.
  if (!/^[\d\s]*$/.test(rle)) {
    const bad = tokens.findIndex((token) => !/^\d+$/.test(token));
    throw new InvalidFormatError(`Kaggle RLE value ${bad + 1} is "${tokens[bad]}", not a non-negative integer`);
  }
  const runs = tokens.map(Number);
  const pixels = width * height;
  const fail = (i: number, problem: string) =>
    new InvalidFormatError(`Kaggle RLE run ${i / 2 + 1} (start ${runs[i]}, length ${runs[i + 1]}) ${problem}`);
  for (let i = 0; i < runs.length; i += 2) {
    if (runs[i + 1] === 0) throw fail(i, "has zero length");
    if (runs[i] < 1 || runs[i] - 1 + runs[i + 1] > pixels) {
      throw fail(i, `lies outside the ${width}x${height} image (pixels 1..${pixels})`);
    }
    runs[i] -= 1;
  }
  return maskFromRuns(runs, width, height, "row-major");
}
