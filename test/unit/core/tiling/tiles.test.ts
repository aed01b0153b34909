import { describe, expect, it } from "vitest";
import { DEFAULT_TILING, cropImage, ownerOfPixel, ownsPoint2, tileGrid } from "../../../../core/tiling/tiles";
import type { GrayImage } from "../../../../core/types";

describe("tileGrid", () => {
  it("cuts a 3000x2000 image into 5x5 model-sized tiles, the last column and row flush with the edges", () => {
    // Act
    const grid = tileGrid(3000, 2000, DEFAULT_TILING);

    // Assess
    expect(grid.columns.map((c) => c.start)).toEqual([0, 576, 1152, 1728, 2296]);
    expect(grid.rows.map((r) => r.start)).toEqual([0, 392, 784, 1176, 1480]);
    expect(grid.tiles).toHaveLength(25);
    expect(grid.tiles[6]).toEqual({ index: 6, column: 1, row: 1, x: 576, y: 392, width: 704, height: 520 });
    expect(grid.tiles.every((t) => t.width === 704 && t.height === 520)).toBe(true);
    expect(grid.tiles.at(-1)).toMatchObject({ x: 3000 - 704, y: 2000 - 520 });
  });

  it("gives an image no larger than a tile one tile of its own size", () => {
    // Act
    const small = tileGrid(256, 300, DEFAULT_TILING);
    const exact = tileGrid(704, 520, DEFAULT_TILING);

    // Assess
    expect(small.tiles).toEqual([{ index: 0, column: 0, row: 0, x: 0, y: 0, width: 256, height: 300 }]);
    expect(exact.tiles).toEqual([{ index: 0, column: 0, row: 0, x: 0, y: 0, width: 704, height: 520 }]);
  });

  it("tiles only the axis that is larger than the tile", () => {
    // Act
    const grid = tileGrid(1000, 400, DEFAULT_TILING);

    // Assess
    expect(grid.tiles.map((t) => [t.x, t.y, t.width, t.height])).toEqual([
      [0, 0, 704, 400],
      [296, 0, 704, 400],
    ]);
  });

  it.each([
    ["a zero width", 0, 10, { tileWidth: 10, tileHeight: 10, overlap: 2 }, /imageWidth must be a positive integer/],
    [
      "a fractional tile",
      10,
      10,
      { tileWidth: 10.5, tileHeight: 10, overlap: 2 },
      /tileWidth must be a positive integer/,
    ],
    [
      "a negative overlap",
      10,
      10,
      { tileWidth: 10, tileHeight: 10, overlap: -1 },
      /overlap must be an integer in \[0, 10\)/,
    ],
    [
      "an overlap as large as a tile side",
      10,
      10,
      { tileWidth: 10, tileHeight: 6, overlap: 6 },
      /overlap must be an integer in \[0, 6\)/,
    ],
  ])("refuses %s", (_name, width, height, options, message) => {
    expect(() => tileGrid(width, height, options)).toThrow(message);
  });
});

describe("tile ownership", () => {
  it("splits each overlap at its middle", () => {
    // Prepare: tiles 0 and 1 overlap on [576, 704); the middle is 640.
    const grid = tileGrid(3000, 2000, DEFAULT_TILING);

    // Act & Assess
    expect(ownerOfPixel(grid, 639, 0).index).toBe(0);
    expect(ownerOfPixel(grid, 640, 0).index).toBe(1);
    expect(ownerOfPixel(grid, 2999, 1999).index).toBe(24);
  });

  it("gives a point exactly on the middle to the later tile, so that no point has two owners", () => {
    // Prepare: a box [630, 10, 650, 30] has its centre at x = 640 (doubled: 1280), the boundary.
    const grid = tileGrid(3000, 2000, DEFAULT_TILING);

    // Act
    const owners = grid.tiles.filter((tile) => ownsPoint2(grid, tile, 630 + 650, 10 + 30));

    // Assess
    expect(owners.map((t) => t.index)).toEqual([1]);
  });
});

describe("cropImage", () => {
  it("copies the pixels under the tile and keeps 16 bits", () => {
    // Prepare: pixel value = y * 10 + x.
    const pixels = Uint16Array.from({ length: 50 }, (_, i) => Math.floor(i / 10) * 10 + (i % 10) + 1000);
    const image: GrayImage = { width: 10, height: 5, bitDepth: 16, pixels };

    // Act
    const crop = cropImage(image, { x: 7, y: 3, width: 3, height: 2 });

    // Assess
    expect(crop).toMatchObject({ width: 3, height: 2, bitDepth: 16 });
    expect(crop.pixels).toBeInstanceOf(Uint16Array);
    expect(Array.from(crop.pixels)).toEqual([1037, 1038, 1039, 1047, 1048, 1049]);
  });

  it("refuses a tile that does not lie inside the image", () => {
    const image: GrayImage = { width: 10, height: 5, bitDepth: 8, pixels: new Uint8Array(50) };
    expect(() => cropImage(image, { x: 8, y: 0, width: 3, height: 2 })).toThrow(/does not lie inside the 10x5 image/);
  });
});
