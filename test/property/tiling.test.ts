import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { maskFromPixelIndices, maskPixelIndices } from "../../core/masks/binary-mask";
import { stitchTiles, type TileInstance, type TileResult } from "../../core/tiling/stitch";
import { ownerOfPixel, ownsPoint2, tileGrid, type Tile } from "../../core/tiling/tiles";

/** An image and a tiling of it, small enough to check pixel by pixel. */
const tilingOf = (minOverlap: number) =>
  fc
    .record({
      imageWidth: fc.integer({ min: 1, max: 160 }),
      imageHeight: fc.integer({ min: 1, max: 120 }),
      tileWidth: fc.integer({ min: 4, max: 60 }),
      tileHeight: fc.integer({ min: 4, max: 60 }),
    })
    .chain((sizes) =>
      fc.record({
        ...Object.fromEntries(Object.entries(sizes).map(([k, v]) => [k, fc.constant(v)])),
        overlap: fc.integer({ min: minOverlap, max: Math.min(sizes.tileWidth, sizes.tileHeight) - 1 }),
      }),
    ) as fc.Arbitrary<{
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

/** IoU of two rectangles [x1, x2) x [y1, y2). */
function rectangleIou(a: { x1: number; y1: number; x2: number; y2: number }, b: typeof a): number {
  const intersection =
    Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1)) * Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const area = (r: typeof a) => (r.x2 - r.x1) * (r.y2 - r.y1);
  return intersection / (area(a) + area(b) - intersection);
}

/** Every tile's view of every cell, as a model that sees cells perfectly would answer. */
function perfectViews(tiles: readonly Tile[], cells: { pixels: [number, number][]; score: number }[]): TileResult[] {
  return tiles.map((tile) => ({
    tile,
    instances: cells.flatMap(({ pixels, score }): TileInstance[] => {
      const inside = pixels.filter(
        ([x, y]) => x >= tile.x && x < tile.x + tile.width && y >= tile.y && y < tile.y + tile.height,
      );
      if (inside.length === 0) return [];
      const mask = maskFromPixelIndices(
        inside.map(([x, y]) => (y - tile.y) * tile.width + (x - tile.x)),
        tile.width,
        tile.height,
      );
      // The score differs from tile to tile, as it does for a real model.
      return [
        {
          cellType: "shsy5y",
          score: score * (0.5 + ((tile.index * 7919) % 100) / 200),
          box: [mask.left, mask.top, mask.left + mask.width, mask.top + mask.height],
          mask,
        },
      ];
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
          expect(
            tile.x >= 0 && tile.y >= 0 && tile.x + tile.width <= imageWidth && tile.y + tile.height <= imageHeight,
          ).toBe(true);
          expect(tile.width).toBe(Math.min(options.tileWidth, imageWidth));
          expect(tile.height).toBe(Math.min(options.tileHeight, imageHeight));
          for (let y = tile.y; y < tile.y + tile.height; y++)
            covered.fill(1, y * imageWidth + tile.x, y * imageWidth + tile.x + tile.width);
        }
        expect(covered.every((c) => c === 1)).toBe(true);
      }),
    );
  });

  it(
    "lets exactly one tile own each pixel, a tile that contains it, " + "at least half an overlap from its inner edges",
    () => {
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
              if (!(x >= left && x < right && y >= top && y < bottom))
                wrong.push(`(${x}, ${y}) is too close to tile ${owner.index}'s inner edge`);
            }
          }
          expect(wrong.slice(0, 5)).toEqual([]);
        }),
      );
    },
  );

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
          .map((c) => ({
            score: c.score,
            pixels: ellipse(c.x, c.y, Math.min(c.w, imageWidth - c.x), Math.min(c.h, imageHeight - c.y)),
          }))
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
        const expected = placed.map(({ pixels }) =>
          Uint32Array.from(pixels.map(([x, y]) => y * imageWidth + x))
            .sort()
            .join(","),
        );
        const actual = stitched.map((s) => maskPixelIndices(s.mask).join(","));
        expect(actual.sort()).toEqual(expected.sort());
      }),
    );
  });

  it(
    "keeps a cell once however differently the tiles that see it whole draw it, " + "when each drawing matches another",
    () => {
      // Four tiles see [40, 60) x [20, 40) of this 2x2 grid: a drawing inside [41, 59) x [21, 39) is whole in each.
      // Every drawing holds [47, 53) x [27, 33), so they all overlap, yet two may match only through a third.
      const grid = tileGrid(100, 60, { tileWidth: 60, tileHeight: 40, overlap: 20 });
      const drawing = fc.record({
        x1: fc.integer({ min: 41, max: 47 }),
        y1: fc.integer({ min: 21, max: 27 }),
        x2: fc.integer({ min: 53, max: 59 }),
        y2: fc.integer({ min: 33, max: 39 }),
        score: fc.double({ min: 0.05, max: 1, noNaN: true }),
      });
      fc.assert(
        fc.property(fc.tuple(...grid.tiles.map(() => fc.option(drawing, { nil: undefined }))), (drawings) => {
          // Prepare: only drawings linked by matches (IoU >= 0.5, the default) are surely one cell. A Set's
          // iteration visits what is added during it, so this walks the matches from the first drawing.
          const seen = drawings.filter((d) => d !== undefined);
          const linked = new Set(seen.slice(0, 1));
          for (const a of linked) for (const b of seen) if (rectangleIou(a, b) >= 0.5) linked.add(b);
          fc.pre(seen.length > 0 && linked.size === seen.length);
          const results: TileResult[] = grid.tiles.map((tile, t) => {
            const d = drawings[t];
            if (d === undefined) return { tile, instances: [] };
            const pixels: number[] = [];
            for (let y = d.y1; y < d.y2; y++)
              for (let x = d.x1; x < d.x2; x++) pixels.push((y - tile.y) * tile.width + (x - tile.x));
            const mask = maskFromPixelIndices(pixels, tile.width, tile.height);
            return {
              tile,
              instances: [
                {
                  cellType: "shsy5y",
                  score: d.score,
                  box: [d.x1 - tile.x, d.y1 - tile.y, d.x2 - tile.x, d.y2 - tile.y],
                  mask,
                },
              ],
            };
          });

          // Act
          const stitched = stitchTiles(grid, results);

          // Assess
          expect(stitched).toHaveLength(1);
          expect(stitched[0].score).toBe(Math.max(...seen.map((d) => d.score)));
        }),
      );
    },
  );

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
