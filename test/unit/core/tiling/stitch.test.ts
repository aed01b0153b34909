import { describe, expect, it } from "vitest";
import { maskFromPixelIndices, maskPixelIndices } from "../../../../core/masks/binary-mask";
import { stitchTiles, type TileInstance, type TileResult } from "../../../../core/tiling/stitch";
import { tileGrid, type Tile, type TileGrid } from "../../../../core/tiling/tiles";
import type { CellType } from "../../../../core/types";

/** Two tiles side by side: [0, 60) and [40, 100) over a 100x30 image; the overlap's middle is x = 50. */
const grid: TileGrid = tileGrid(100, 30, { tileWidth: 60, tileHeight: 30, overlap: 20 });
const [left, right] = grid.tiles;

/** The pixels of a filled rectangle [x1, x2) x [y1, y2) in image coordinates. */
function rectangle(x1: number, y1: number, x2: number, y2: number): [number, number][] {
  const pixels: [number, number][] = [];
  for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) pixels.push([x, y]);
  return pixels;
}

/** What a tile sees of a cell: its pixels inside the tile, in the tile's frame (undefined when none). */
function view(
  tile: Tile,
  pixels: [number, number][],
  score: number,
  cellType: CellType = "shsy5y",
): TileInstance | undefined {
  const inside = pixels.filter(
    ([x, y]) => x >= tile.x && x < tile.x + tile.width && y >= tile.y && y < tile.y + tile.height,
  );
  if (inside.length === 0) return undefined;
  const mask = maskFromPixelIndices(
    inside.map(([x, y]) => (y - tile.y) * tile.width + (x - tile.x)),
    tile.width,
    tile.height,
  );
  return { cellType, score, box: [mask.left, mask.top, mask.left + mask.width, mask.top + mask.height], mask };
}

function results(...perTile: [Tile, (TileInstance | undefined)[]][]): TileResult[] {
  return perTile.map(([tile, instances]) => ({
    tile,
    instances: instances.filter((i): i is TileInstance => i !== undefined),
  }));
}

const imageIndices = (pixels: [number, number][]) => Uint32Array.from(pixels.map(([x, y]) => y * 100 + x)).sort();

describe("stitchTiles", () => {
  it("keeps a cell seen whole by both tiles once, with its whole mask", () => {
    // Prepare: a 6x6 cell inside the overlap, scored differently by the two tiles.
    const cell = rectangle(44, 10, 50, 16);

    // Act
    const stitched = stitchTiles(grid, results([left, [view(left, cell, 0.6)]], [right, [view(right, cell, 0.9)]]));

    // Assess
    expect(stitched).toHaveLength(1);
    expect(maskPixelIndices(stitched[0].mask)).toEqual(imageIndices(cell));
    expect(stitched[0]).toMatchObject({ score: 0.9, tile: 1, area: 36 });
  });

  it("completes a cell that the other tile's edge cuts, keeping the better score", () => {
    // Prepare: the cell spans [55, 65): the left tile (which ends at 60) sees half of it, and scores it higher.
    const cell = rectangle(55, 5, 65, 12);

    // Act
    const stitched = stitchTiles(grid, results([left, [view(left, cell, 0.99)]], [right, [view(right, cell, 0.5)]]));

    // Assess
    expect(stitched).toHaveLength(1);
    expect(maskPixelIndices(stitched[0].mask)).toEqual(imageIndices(cell));
    expect(stitched[0]).toMatchObject({ tile: 0, score: 0.99 });
  });

  it("puts a cell larger than the overlap, cut by both tiles, back together once", () => {
    // Prepare: [30, 70) is cut by both tiles' inner edges (60 and 40).
    const cell = rectangle(30, 0, 70, 10);

    // Act
    const stitched = stitchTiles(grid, results([left, [view(left, cell, 0.9)]], [right, [view(right, cell, 0.8)]]));

    // Assess
    expect(stitched).toHaveLength(1);
    expect(maskPixelIndices(stitched[0].mask)).toEqual(imageIndices(cell));
    expect(stitched[0]).toMatchObject({ tile: 0, score: 0.9 });
  });

  it("drops a lone cut fragment whose centre another tile owns", () => {
    // Prepare: the left tile sees the left part of a cell the right tile missed altogether.
    const fragment = view(left, rectangle(52, 0, 70, 10), 0.9);

    // Act
    const stitched = stitchTiles(grid, results([left, [fragment]], [right, []]));

    // Assess
    expect(stitched).toEqual([]);
  });

  it("keeps a cell once when the tiles disagree by a pixel about it, right at the ownership boundary", () => {
    // Prepare: the left tile's view has its centre just left of x = 50, the right tile's just right of it.
    const leftView = view(left, rectangle(44, 10, 55, 20), 0.7);
    const rightView = view(right, rectangle(45, 10, 56, 20), 0.8);

    // Act
    const stitched = stitchTiles(grid, results([left, [leftView]], [right, [rightView]]));

    // Assess
    expect(stitched).toHaveLength(1);
    expect(stitched[0]).toMatchObject({ tile: 1, score: 0.8, area: 110 });
  });

  it("keeps a cell once when three tiles see it whole and only the middle view matches both others", () => {
    // Prepare: a 2x2 grid whose four tiles all see [40, 60) x [20, 40). Three see the cell whole but draw it
    // differently, as the starter model did at a four-way seam of the large image: the best view is its
    // left part, another all of it, the worst its right part (IoU 0.67 and 0.58 with the whole drawing,
    // 0.25 with each other). The whole drawing loses two thirds of itself to the best view, the right part
    // only three sevenths: judged by the pixels left to it, the right part would be a second cell.
    const quad = tileGrid(100, 60, { tileWidth: 60, tileHeight: 40, overlap: 20 });
    const [topLeft, topRight, bottomLeft, bottomRight] = quad.tiles;
    const leftPart = rectangle(42, 22, 50, 34);
    const cell = rectangle(42, 22, 54, 34);
    const rightPart = rectangle(47, 22, 54, 34);

    // Act
    const stitched = stitchTiles(
      quad,
      results(
        [topLeft, [view(topLeft, leftPart, 0.9)]],
        [topRight, [view(topRight, cell, 0.6)]],
        [bottomLeft, []],
        [bottomRight, [view(bottomRight, rightPart, 0.3)]],
      ),
    );

    // Assess
    expect(stitched).toHaveLength(1);
    expect(stitched[0]).toMatchObject({ tile: 0, score: 0.9, area: 96 });
    expect(maskPixelIndices(stitched[0].mask)).toEqual(imageIndices(leftPart));
  });

  it("drops a duplicate view without taking pixels from the cells after it", () => {
    // Prepare: the right tile's view (0.8) loses more than half to the left tile's shifted view (0.9) of
    // the same cell and is dropped; the left tile's other cell (0.7), which the dropped view overlapped,
    // keeps every pixel.
    const best = view(left, rectangle(40, 0, 50, 10), 0.9);
    const duplicate = view(right, rectangle(44, 0, 54, 10), 0.8);
    const neighbour = view(left, rectangle(50, 0, 56, 10), 0.7);

    // Act
    const stitched = stitchTiles(grid, results([left, [best, neighbour]], [right, [duplicate]]));

    // Assess
    expect(stitched.map((s) => [s.score, s.area])).toEqual([
      [0.9, 100],
      [0.7, 60],
    ]);
  });

  it("keeps distinct neighbouring cells from both tiles, disjoint, in descending score order", () => {
    // Prepare: one cell each side of the boundary, touching, plus one in each tile's own part.
    const a = rectangle(40, 0, 50, 8);
    const b = rectangle(50, 0, 58, 8);
    const c = rectangle(5, 20, 15, 28);
    const d = rectangle(80, 20, 90, 28);

    // Act
    const stitched = stitchTiles(
      grid,
      results(
        [left, [view(left, a, 0.5), view(left, b, 0.6), view(left, c, 0.7)]],
        [right, [view(right, a, 0.5), view(right, b, 0.6), view(right, d, 0.9)]],
      ),
    );

    // Assess
    expect(stitched.map((s) => s.score)).toEqual([0.9, 0.7, 0.6, 0.5]);
    expect(stitched.map((s) => s.area)).toEqual([80, 80, 64, 80]);
    const pixels = stitched.flatMap((s) => Array.from(maskPixelIndices(s.mask)));
    expect(new Set(pixels).size).toBe(pixels.length);
  });

  it("shifts boxes and masks into the image's frame", () => {
    // Prepare
    const cell = rectangle(80, 3, 84, 7);

    // Act
    const [stitched] = stitchTiles(grid, results([right, [view(right, cell, 0.5, "astro")]]));

    // Assess
    expect(stitched).toMatchObject({ cellType: "astro", box: [80, 3, 84, 7], tile: 1 });
    expect(stitched.mask).toMatchObject({ imageWidth: 100, imageHeight: 30, left: 80, top: 3, width: 4, height: 4 });
  });

  it("refuses a mask that is not of its tile's size", () => {
    // Prepare
    const instance = view(left, rectangle(1, 1, 3, 3), 0.5)!;
    const wrong = { ...instance, mask: { ...instance.mask, imageWidth: 100 } };

    // Act & Assess
    expect(() => stitchTiles(grid, [{ tile: left, instances: [wrong] }])).toThrow(
      /tile 0 is 60x30 but an instance's mask is of a 100x30 image/,
    );
  });
});
