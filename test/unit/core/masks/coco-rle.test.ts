import { describe, expect, it } from "vitest";
import { InvalidFormatError } from "../../../../core/errors";
import { emptyMask, maskFromPixelIndices, maskPixelIndices } from "../../../../core/masks/binary-mask";
import { decodeCocoRle, encodeCocoRle, type CocoRle } from "../../../../core/masks/coco-rle";
import type { BinaryMask } from "../../../../core/types";

// Vectors worked out by hand from pycocotools' maskApi.c (rleEncode, rleToString): counts over the
// column-major image, each count after the second stored minus the count two before, in 5-bit groups
// (0x20 = more follows, 0x10 = sign of the last group) offset by 48.
const vectors: { name: string; mask: BinaryMask; counts: number[]; rle: CocoRle }[] = [
  {
    // 3 wide, 2 high; pixels (1, 0), (1, 1), (2, 1). Column-major: 0 0 | 1 1 | 0 1, counts [2, 2, 1, 1];
    // the last is stored as 1 - 2 = -1: group 31 with the sign bit and no more, "O".
    name: "a tiny mask ending with a 1-run",
    mask: maskFromPixelIndices([1, 4, 5], 3, 2),
    counts: [2, 2, 1, 1],
    rle: { size: [2, 3], counts: "221O" },
  },
  {
    // 300 wide, 1 high; pixels 10..129 and 180..199: counts [10, 120, 50, 20, 100], stored as
    // 10 ":", 120 "h3" (24 | 0x20, then 3), 50 "b1", 20 - 120 = -100 "lL" (28 | 0x20, then -4
    // as 28), 100 - 50 = 50 "b1".
    name: "counts needing several groups and a negative difference",
    mask: maskFromPixelIndices([...range(10, 130), ...range(180, 200)], 300, 1),
    counts: [10, 120, 50, 20, 100],
    rle: { size: [1, 300], counts: ":h3b1lLb1" },
  },
  {
    // 10 x 10, column 5 full: counts [50, 10, 40] stored as "b1", ":", "X1".
    name: "a full column",
    mask: maskFromPixelIndices(
      range(0, 10).map((y) => y * 10 + 5),
      10,
      10,
    ),
    counts: [50, 10, 40],
    rle: { size: [10, 10], counts: "b1:X1" },
  },
  {
    name: "the empty mask, one 0-run of 100",
    mask: emptyMask(10, 10),
    counts: [100],
    rle: { size: [10, 10], counts: "T3" },
  },
  {
    name: "the full mask, an empty 0-run then the 1-run",
    mask: maskFromPixelIndices(range(0, 6), 3, 2),
    counts: [0, 6],
    rle: { size: [2, 3], counts: "06" },
  },
];

describe("encodeCocoRle", () => {
  it.each(vectors)("encodes $name as pycocotools does", ({ mask, rle }) => {
    expect(encodeCocoRle(mask)).toEqual(rle);
  });
});

describe("decodeCocoRle", () => {
  it.each(vectors)("decodes $name, compressed or as plain counts", ({ mask, counts, rle }) => {
    // Act
    const fromString = decodeCocoRle(rle);
    const fromCounts = decodeCocoRle({ size: rle.size, counts });

    // Assess
    expect(fromString).toEqual(mask);
    expect(fromCounts).toEqual(mask);
  });

  it("returns the tight crop of the pixels", () => {
    // Act
    const mask = decodeCocoRle({ size: [2, 3], counts: "221O" });

    // Assess
    expect(mask).toMatchObject({ left: 1, top: 0, width: 2, height: 2 });
    expect([...maskPixelIndices(mask)]).toEqual([1, 4, 5]);
  });

  it.each<[CocoRle, RegExp]>([
    [{ size: [2, 3], counts: [2, 2, 1] }, /add up to 5, expected 2x3 = 6/],
    [{ size: [2, 3], counts: "221" }, /add up to 5/],
    [{ size: [2, 3], counts: [2, -2, 6] }, /count 2 is -2/],
    [{ size: [2, 3], counts: [2, 1.5, 2.5] }, /count 2 is 1.5/],
    [{ size: [2, 3], counts: "22~" }, /"~" at 2, outside pycocotools' alphabet/],
    [{ size: [10, 10], counts: "T" }, /ends inside count 1/],
    [{ size: [2, -3], counts: "" }, /size \[2,-3\] is not \[height, width\]/],
  ])("rejects %j", (rle, message) => {
    const decode = () => decodeCocoRle(rle);
    expect(decode).toThrow(InvalidFormatError);
    expect(decode).toThrow(message);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
