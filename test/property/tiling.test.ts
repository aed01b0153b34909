import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { maskFromPixelIndices, maskPixelIndices } from "../../core/masks/binary-mask";
import { stitchTiles, type TileInstance, type TileResult } from "../../core/tiling/stitch";
import { ownerOfPixel, ownsPoint2, tileGrid, type Tile } from "../../core/tiling/tiles";

/** An image and a tiling of it, small enough to check pixel by pixel. */
const tilingOf = (minOverlap: number) => fc
  .record({
    imageWidth: fc.integer({ min: 1, max: 160 }),
    imageHeight: fc.integer({ min: 1, max: 120 }),
    tileWidth: fc.integer({ min: 4, max: 60 }),
    tileHeight: fc.integer({ min: 4, max: 60 }),
  })
  .chain((sizes) => fc.record({ ...Object.fromEntries(Object.entries(sizes).map(([k, v]) => [k, fc.constant(v)])), overlap: fc.integer({ min: minOverlap, max: Math.min(sizes.tileWidth, sizes.tileHeight) - 1 }) })) as fc.Arbitrary<{
  imageWidth: number;
  imageHeight: number;
  tileWidth: number;
  tileHeight: number;
  overlap: number;
}>;
const tiledImage = tilingOf(0);

/** A filled ellipse inside the box [x, x + w) x [y, y + h): a convex cell, as cells roughly are. */
function ellipse(x: number, y: number, w: number, h: number): [number, number][] {
  const pixels: [number, number][] = [];
  for (let py = y; py < y + h; py++) {
    for (let px = x; px < x + w; px++) {
      const dx = (px + 0.5 - (x + w / 2)) / (w / 2);
      const dy = (py + 0.5 - (y + h / 2)) / (h / 2);
      if (dx * dx + dy * dy <= 1) pixels.push([px, py]);
    }
  }
  return pixels;
}

/** Every tile's view of every cell, as a model that sees cells perfectly would answer. */
function perfectViews(tiles: readonly Tile[], cells: { pixels: [number, number][]; score: number }[]): TileResult[] {
  return tiles.map((tile) => ({
    tile,
    instances: cells.flatMap(({ pixels, score }): TileInstance[] => {
      const inside = pixels.filter(([x, y]) => x >= tile.x && x < tile.x + tile.width && y >= tile.y && y < tile.y + tile.height);
      if (inside.length === 0) return [];
      const mask = maskFromPixelIndices(inside.map(([x, y]) => (y - tile.y) * tile.width + (x - tile.x)), tile.width, tile.height);
      // The score differs from tile to tile, as it does for a real model.
      return [{ cellType: "shsy5y", score: score * (0.5 + ((tile.index * 7919) % 100) / 200), box: [mask.left, mask.top, mask.left + mask.width, mask.top + mask.height], mask }];
    }),
  }));
}

describe("tiling (property)", () => {
  it("covers every pixel with tiles that lie inside the image and are as large as allowed", () => {
    fc.assert(
      fc.property(tiledImage, ({ imageWidth, imageHeight, ...options }) => {
        const grid = tileGrid(imageWidth, imageHeight, options);
        const covered = new Uint8Array(imageWidth * imageHeight);
        for (const tile of grid.tiles) {
          expect(tile.x >= 0 && tile.y >= 0 && tile.x + tile.width <= imageWidth && tile.y + tile.height <= imageHeight).toBe(true);
          expect(tile.width).toBe(Math.min(options.tileWidth, imageWidth));
          expect(tile.height).toBe(Math.min(options.tileHeight, imageHeight));
          for (let y = tile.y; y < tile.y + tile.height; y++) covered.fill(1, y * imageWidth + tile.x, y * imageWidth + tile.x + tile.width);
        }
        expect(covered.every((c) => c === 1)).toBe(true);
      }),
    );
  });

  it("lets exactly one tile own each pixel, a tile that contains it, at least half an overlap from its inner edges", () => {
    fc.assert(
      fc.property(tiledImage, ({ imageWidth, imageHeight, ...options }) => {
        const grid = tileGrid(imageWidth, imageHeight, options);
        const margin = Math.floor(options.overlap / 2);
        const wrong: string[] = [];
        for (let y = 0; y < imageHeight; y++) {
          for (let x = 0; x < imageWidth; x++) {
            const owners = grid.tiles.filter((tile) => ownsPoint2(grid, tile, 2 * x + 1, 2 * y + 1));
            if (owners.length !== 1 || ownerOfPixel(grid, x, y) !== owners[0]) {
              wrong.push(`(${x}, ${y}) has owners ${owners.map((t) => t.index)}`);
              continue;
            }
            const [owner] = owners;
            const left = owner.x === 0 ? 0 : owner.x + margin;
            const right = owner.x + owner.width === imageWidth ? imageWidth : owner.x + owner.width - margin;
            const top = owner.y === 0 ? 0 : owner.y + margin;
            const bottom = owner.y + owner.height === imageHeight ? imageHeight : owner.y + owner.height - margin;
            if (!(x >= left && x < right && y >= top && y < bottom)) wrong.push(`(${x}, ${y}) is too close to tile ${owner.index}'s inner edge`);
          }
        }
        expect(wrong.slice(0, 5)).toEqual([]);
      }),
    );
  });

  // With no overlap, nothing tells a cell cut by a seam from two cells that touch there.
  it("keeps every cell exactly once, whole, however the tiles cut it, given some overlap", () => {
    const scene = tilingOf(1).chain((tiling) =>
      fc.record({
        tiling: fc.constant(tiling),
        cells: fc.array(
          fc.record({
            x: fc.integer({ min: 0, max: tiling.imageWidth - 1 }),
            y: fc.integer({ min: 0, max: tiling.imageHeight - 1 }),
            // Some cells are larger than the overlap, some larger than a tile.
            w: fc.integer({ min: 1, max: 70 }),
            h: fc.integer({ min: 1, max: 70 }),
            score: fc.double({ min: 0.05, max: 1, noNaN: true }),
          }),
          { maxLength: 8 },
        ),
      }),
    );
    fc.assert(
      fc.property(scene, ({ tiling: { imageWidth, imageHeight, ...options }, cells }) => {
        // Prepare: cells clipped to the image, no two sharing a pixel (the model's output never overlaps).
        const taken = new Set<number>();
        const placed = cells
          .map((c) => ({ score: c.score, pixels: ellipse(c.x, c.y, Math.min(c.w, imageWidth - c.x), Math.min(c.h, imageHeight - c.y)) }))
          .filter(({ pixels }) => pixels.length > 0 && pixels.every(([x, y]) => !taken.has(y * imageWidth + x)))
          .filter(({ pixels }, i, all) => all.findIndex((other) => other.pixels === pixels) === i)
          .filter(({ pixels }) => {
            if (pixels.some(([x, y]) => taken.has(y * imageWidth + x))) return false;
            for (const [x, y] of pixels) taken.add(y * imageWidth + x);
            return true;
          });
        const grid = tileGrid(imageWidth, imageHeight, options);

        // Act
        const stitched = stitchTiles(grid, perfectViews(grid.tiles, placed));

        // Assess
        const expected = placed.map(({ pixels }) => Uint32Array.from(pixels.map(([x, y]) => y * imageWidth + x)).sort().join(","));
        const actual = stitched.map((s) => maskPixelIndices(s.mask).join(","));
        expect(actual.sort()).toEqual(expected.sort());
      }),
    );
  });

  it("returns disjoint instances, each inside what some tile saw, whatever the tiles disagree about", () => {
    const scene = tilingOf(0).chain((tiling) => {
      const grid = tileGrid(tiling.imageWidth, tiling.imageHeight, tiling);
      // Each tile sees its own, unrelated rectangles (overlapping each other too): the worst a model can do.
      const views = grid.tiles.map((tile) =>
        fc.array(
          fc.record({
            x: fc.integer({ min: 0, max: tile.width - 1 }),
            y: fc.integer({ min: 0, max: tile.height - 1 }),
            w: fc.integer({ min: 1, max: tile.width }),
            h: fc.integer({ min: 1, max: tile.height }),
            score: fc.double({ min: 0.05, max: 1, noNaN: true }),
          }),
          { maxLength: 4 },
        ),
      );
      return fc.record({ tiling: fc.constant(tiling), views: fc.tuple(...views) });
    });
    fc.assert(
      fc.property(scene, ({ tiling: { imageWidth, imageHeight, ...options }, views }) => {
        // Prepare
        const grid = tileGrid(imageWidth, imageHeight, options);
        const seen = new Uint8Array(imageWidth * imageHeight);
        const results: TileResult[] = grid.tiles.map((tile, t) => ({
          tile,
          instances: views[t].map(({ x, y, w, h, score }): TileInstance => {
            const pixels: number[] = [];
            for (let py = y; py < Math.min(y + h, tile.height); py++) {
              for (let px = x; px < Math.min(x + w, tile.width); px++) {
                pixels.push(py * tile.width + px);
                seen[(tile.y + py) * imageWidth + tile.x + px] = 1;
              }
            }
            const mask = maskFromPixelIndices(pixels, tile.width, tile.height);
            return { cellType: "cort", score, box: [x, y, x + w, y + h], mask };
          }),
        }));

        // Act
        const stitched = stitchTiles(grid, results);

        // Assess
        const owner = new Uint8Array(imageWidth * imageHeight);
        for (const instance of stitched) {
          expect(instance.area).toBeGreaterThan(0);
          for (const pixel of maskPixelIndices(instance.mask)) {
            expect(seen[pixel]).toBe(1);
            expect(owner[pixel]).toBe(0);
            owner[pixel] = 1;
          }
        }
        expect(stitched.map((s) => s.score)).toEqual([...stitched.map((s) => s.score)].sort((a, b) => b - a));
      }),
      { numRuns: 60 },
    );
  });
});
