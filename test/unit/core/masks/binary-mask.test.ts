import { describe, expect, it } from "vitest";
import {
  emptyMask,
  maskArea,
  maskBox,
  maskFromPixelIndices,
  maskFromRuns,
  maskIntersectionArea,
  maskPixelIndices,
  maskRuns,
} from "../../../../core/masks/binary-mask";
import type { BinaryMask } from "../../../../core/types";

// 4 x 4 image, rows:  . . . .
//                     . X X .
//                     . X . .
//                     . . . .
const corner = maskFromPixelIndices([9, 6, 5, 6], 4, 4);

describe("maskFromPixelIndices", () => {
  it("builds the tight crop of the pixels, ignoring order and duplicates", () => {
    // Assess
    expect(corner).toEqual({
      imageWidth: 4,
      imageHeight: 4,
      left: 1,
      top: 1,
      width: 2,
      height: 2,
      data: Uint8Array.of(1, 1, 1, 0),
    });
  });

  it("gives the empty mask for no pixels", () => {
    // Act
    const mask = maskFromPixelIndices([], 4, 4);

    // Assess
    expect(mask).toEqual(emptyMask(4, 4));
  });
});

describe("mask measures", () => {
  // A loose crop: the pixels do not reach its edges.
  const loose: BinaryMask = {
    imageWidth: 5,
    imageHeight: 4,
    left: 1,
    top: 0,
    width: 3,
    height: 3,
    data: Uint8Array.of(0, 0, 0, 0, 1, 1, 0, 0, 0),
  };

  it("counts the pixels", () => {
    expect(maskArea(corner)).toBe(3);
    expect(maskArea(loose)).toBe(2);
  });

  it("gives the tight box of the pixels, not of the crop", () => {
    expect(maskBox(corner)).toEqual([1, 1, 3, 3]);
    expect(maskBox(loose)).toEqual([2, 1, 4, 2]);
  });

  it("gives a zero box for an empty mask, as pycocotools does", () => {
    expect(maskBox(emptyMask(4, 4))).toEqual([0, 0, 0, 0]);
  });

  it("lists the pixels as sorted row-major indices of the whole image", () => {
    expect([...maskPixelIndices(corner)]).toEqual([5, 6, 9]);
    expect([...maskPixelIndices(loose)]).toEqual([7, 8]);
  });

  it("counts the intersection of two masks whose crops only partly overlap", () => {
    // Prepare
    const right = maskFromPixelIndices([6, 7, 10], 4, 4);

    // Act
    const area = maskIntersectionArea(corner, right);

    // Assess
    expect(area).toBe(1);
    expect(maskIntersectionArea(corner, emptyMask(4, 4))).toBe(0);
  });
});

describe("runs", () => {
  it("merges runs that touch across a line boundary", () => {
    // Prepare: pixels 3 (end of row 0) and 4 (start of row 1), and 9.
    const mask = maskFromPixelIndices([3, 4, 9], 4, 4);

    // Act
    const runs = maskRuns(mask, "row-major");

    // Assess
    expect(runs).toEqual([3, 2, 9, 1]);
  });

  it("numbers column-major runs down the columns", () => {
    // Act: corner's pixels (1, 1), (2, 1), (1, 2) are column-major 5, 6 and 9.
    const runs = maskRuns(corner, "column-major");

    // Assess
    expect(runs).toEqual([5, 2, 9, 1]);
  });

  it("rebuilds the mask from column-major runs that wrap onto the next column", () => {
    // Act: in a 4 x 3 image (4 wide, 3 high), column-major pixels 2..3 are (0, 2) and (1, 0).
    const mask = maskFromRuns([2, 2], 4, 3, "column-major");

    // Assess
    expect([...maskPixelIndices(mask)]).toEqual([1, 8]);
    expect(mask).toMatchObject({ left: 0, top: 0, width: 2, height: 3 });
  });
});
