import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { InvalidFormatError } from "../../../../core/errors";
import {
  emptyMask,
  maskArea,
  maskBox,
  maskFromPixelIndices,
  maskPixelIndices,
} from "../../../../core/masks/binary-mask";
import { decodeKaggleRle, encodeKaggleRle } from "../../../../core/masks/kaggle-rle";
import type { BinaryMask } from "../../../../core/types";
import { sartoriusPath } from "../../../support/sartorius-data";

describe("encodeKaggleRle", () => {
  it("numbers pixels row-major from 1 and merges runs that touch across a row boundary", () => {
    // Prepare: 4 x 4 image, pixels 3 (end of row 0), 4 (start of row 1) and 9.
    const mask = maskFromPixelIndices([3, 4, 9], 4, 4);

    // Act
    const rle = encodeKaggleRle(mask);

    // Assess
    expect(rle).toBe("4 2 10 1");
  });

  it("encodes the empty mask as the empty string", () => {
    expect(encodeKaggleRle(emptyMask(704, 520))).toBe("");
  });

  it("encodes 500 cell-sized masks of a 704x520 image", () => {
    // Prepare: 30 x 30 discs on a grid, as in a dense shsy5y image.
    const masks = Array.from({ length: 500 }, (_, i) => disc(20 + (i % 25) * 27, 20 + Math.floor(i / 25) * 24, 15));

    // Act
    const rles = masks.map(encodeKaggleRle);

    // Assess (speed is measured by `npm run bench`)
    expect(rles.every((rle) => rle.length > 0)).toBe(true);
  });
});

describe("decodeKaggleRle", () => {
  it("decodes the first annotation of train.csv and encodes it back to the same string", () => {
    // Prepare
    const [, firstRow] = readFileSync(sartoriusPath("train", "train.csv"), "utf8").split("\n", 2);
    const [, rle, width, height] = firstRow.split(",");

    // Act
    const mask = decodeKaggleRle(rle, Number(width), Number(height));

    // Assess: the first run starts at pixel 100655, row 142 (0-based), the last (114741 2) ends in row 162;
    // the 21 runs hold 196 pixels.
    expect(maskArea(mask)).toBe(196);
    expect(maskBox(mask)[1]).toBe(142);
    expect(maskBox(mask)[3]).toBe(163);
    expect(encodeKaggleRle(mask)).toBe(rle);
  });

  it("accepts runs in any order and overlapping runs, as in hand-made ground truth", () => {
    // Act: pixels 3-4, then 9, then 4-5 again overlapping the first run.
    const mask = decodeKaggleRle("10 1 4 2 5 2", 4, 4);

    // Assess
    expect([...maskPixelIndices(mask)]).toEqual([3, 4, 5, 9]);
    expect(encodeKaggleRle(mask)).toBe("4 3 10 1");
  });

  it("decodes a run that wraps onto the next row into a full-width crop", () => {
    // Act
    const mask = decodeKaggleRle("4 2", 4, 4);

    // Assess
    expect(mask).toMatchObject({ left: 0, top: 0, width: 4, height: 2 });
    expect(mask.data).toEqual(Uint8Array.of(0, 0, 0, 1, 1, 0, 0, 0));
  });

  it.each(["", "  ", "\n"])("decodes %j as the empty mask", (rle) => {
    expect(decodeKaggleRle(rle, 4, 4)).toEqual(emptyMask(4, 4));
  });

  it.each([
    ["1", /odd number of values \(1\)/],
    ["1 2 3", /odd number of values \(3\)/],
    ["a 2", /value 1 is "a", not a non-negative integer/],
    ["1 -2", /value 2 is "-2", not a non-negative integer/],
    ["1.5 2", /value 1 is "1.5"/],
    ["3 1 5 0", /run 2 \(start 5, length 0\) has zero length/],
    ["0 1", /run 1 \(start 0, length 1\) lies outside the 4x4 image/],
    ["16 2", /run 1 \(start 16, length 2\) lies outside/],
    ["17 1", /lies outside/],
  ])("rejects %j", (rle, message) => {
    expect(() => decodeKaggleRle(rle, 4, 4)).toThrow(InvalidFormatError);
    expect(() => decodeKaggleRle(rle, 4, 4)).toThrow(message);
  });
});

function disc(cx: number, cy: number, radius: number): BinaryMask {
  const indices: number[] = [];
  for (let y = cy - radius; y <= cy + radius; y++) {
    for (let x = cx - radius; x <= cx + radius; x++) {
      if ((x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2) indices.push(y * 704 + x);
    }
  }
  return maskFromPixelIndices(indices, 704, 520);
}
