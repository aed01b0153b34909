/**
 * COCO run-length encoding, byte-for-byte as pycocotools (`maskApi.c`: `rleEncode`, `rleToString`,
 * `rleFrString`) so that the JSON we write loads with `pycocotools.mask.decode` and detectron2.
 */
import { InvalidFormatError } from "../errors";
import type { BinaryMask } from "../types";
import { maskFromRuns, maskRuns } from "./binary-mask";

/** A COCO RLE: `counts` alternate 0-runs and 1-runs over the column-major image, starting with 0-pixels. */
export interface CocoRle {
  readonly size: readonly [height: number, width: number];
  /** Compressed as pycocotools' `rleToString`, or (accepted when decoding) the plain run lengths. */
  readonly counts: string | readonly number[];
}

/**
 * The compressed COCO RLE of a mask, as `pycocotools.mask.encode(np.asfortranarray(mask))` gives it.
 *
 * @example
 * // 2 x 3 image, pixels (x 1, y 0), (x 1, y 1), (x 2, y 1): column-major 0 0 1 1 0 1, counts [2, 2, 1, 1]
 * encodeCocoRle(maskFromPixelIndices([1, 4, 5], 3, 2)); // { size: [2, 3], counts: "221O" }
 */
export function encodeCocoRle(mask: BinaryMask): { size: [height: number, width: number]; counts: string } {
  const runs = maskRuns(mask, "column-major");
  const counts: number[] = [];
  let end = 0;
  for (let i = 0; i < runs.length; i += 2) {
    counts.push(runs[i] - end, runs[i + 1]);
    end = runs[i] + runs[i + 1];
  }
  const pixels = mask.imageWidth * mask.imageHeight;
  // rleEncode always closes with the run in progress: the trailing 0-run, or a lone 0 for an empty mask.
  if (end < pixels || counts.length === 0) counts.push(pixels - end);
  return { size: [mask.imageHeight, mask.imageWidth], counts: countsToString(counts) };
}

/**
 * Decodes a COCO RLE, compressed or not, into a tight mask.
 *
 * @throws InvalidFormatError when the size is not two non-negative integers, the string has a character
 * outside pycocotools' alphabet or ends inside a value, or the counts are negative or do not add up to
 * height x width.
 * @example
 * decodeCocoRle({ size: [2, 3], counts: "221O" }); // pixels (1, 0), (1, 1), (2, 1)
 * decodeCocoRle({ size: [2, 3], counts: [2, 2, 1, 1] }); // the same mask
 */
export function decodeCocoRle(rle: CocoRle): BinaryMask {
  const [height, width] = rle.size;
  if (![height, width].every((n) => Number.isInteger(n) && n >= 0)) {
    throw new InvalidFormatError(`COCO RLE size ${JSON.stringify(rle.size)} is not [height, width]`);
  }
  const counts = typeof rle.counts === "string" ? countsFromString(rle.counts) : rle.counts;
  const runs: number[] = [];
  let position = 0;
  counts.forEach((count, i) => {
    if (!Number.isInteger(count) || count < 0) {
      throw new InvalidFormatError(`COCO RLE count ${i + 1} is ${count}, not a non-negative integer`);
    }
    if (i % 2 === 1 && count > 0) runs.push(position, count);
    position += count;
  });
  if (position !== height * width) {
    throw new InvalidFormatError(
      `COCO RLE counts add up to ${position}, expected ${height}x${width} = ${height * width}`,
    );
  }
  return maskFromRuns(runs, width, height, "column-major");
}

/*
 * pycocotools' string form: each count after the second is stored as the difference to the count two
 * before (same-colour runs have similar lengths), then as little-endian 5-bit groups with 0x20 as the
 * continuation bit and 0x10 as the sign of the last group, offset by 48 into printable ASCII. Arithmetic
 * instead of bit shifts keeps values beyond 32 bits exact, as C's `long` does.
 */
function countsToString(counts: readonly number[]): string {
  let text = "";
  counts.forEach((count, i) => {
    let x = i > 2 ? count - counts[i - 2] : count;
    let more = true;
    while (more) {
      let c = x - Math.floor(x / 32) * 32;
      x = Math.floor(x / 32);
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      text += String.fromCharCode(c + 48);
    }
  });
  return text;
}

function countsFromString(text: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < text.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= text.length) throw new InvalidFormatError(`COCO RLE string ends inside count ${counts.length + 1}`);
      const c = text.charCodeAt(p) - 48;
      if (c < 0 || c > 63) {
        throw new InvalidFormatError(
          `COCO RLE string has "${text[p]}" at ${p}, outside pycocotools' alphabet "0".."o"`,
        );
      }
      x += (c & 0x1f) * 32 ** k;
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 32 ** k;
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}
