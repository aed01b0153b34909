import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { maskFromPixelIndices } from "../../core/masks/binary-mask";
import { outlinesGeoJson } from "../../core/outputs/outlines-geojson";
import type { Instance } from "../../core/types";

const labelImage = fc
  .record({ width: fc.integer({ min: 1, max: 16 }), height: fc.integer({ min: 1, max: 16 }) })
  .chain(({ width, height }) =>
    fc.record({
      width: fc.constant(width),
      height: fc.constant(height),
      labels: fc.uint16Array({ min: 0, max: 2, minLength: width * height, maxLength: width * height }),
    }),
  );

function instancesOf(labels: Uint16Array, width: number, height: number): Instance[] {
  return [1, 2].map((label) => {
    const pixels = [...labels.keys()].filter((i) => labels[i] === label);
    const mask = maskFromPixelIndices(pixels, width, height);
    return { cellType: "cort", score: 0.5, mask, area: pixels.length, box: [0, 0, width, height] };
  });
}

/** Even-odd rule over every ring of the geometry (holes included). */
function contains(polygons: number[][][][], x: number, y: number): boolean {
  let inside = false;
  for (const ring of polygons.flat()) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i]!;
      const [xj, yj] = ring[j]!;
      if (yi! > y !== yj! > y && x < ((xj! - xi!) * (y - yi!)) / (yj! - yi!) + xi!) inside = !inside;
    }
  }
  return inside;
}

const FOUR = [
  [1, 0],
  [-1, 0],
  [0, 1],
  [0, -1],
] as const;
const EIGHT = [...FOUR, [1, 1], [1, -1], [-1, 1], [-1, -1]] as const;

/** How many connected regions of the pixels where `member` holds, by flood fill. */
function regions(
  width: number,
  height: number,
  member: (x: number, y: number) => boolean,
  steps: readonly (readonly [number, number])[],
): number {
  const seen = new Set<number>();
  let count = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!member(x, y) || seen.has(y * width + x)) continue;
      count++;
      const queue = [[x, y]];
      seen.add(y * width + x);
      for (const [qx, qy] of queue) {
        for (const [dx, dy] of steps) {
          const [nx, ny] = [qx! + dx, qy! + dy];
          if (nx < 0 || ny < 0 || nx >= width || ny >= height || !member(nx, ny) || seen.has(ny * width + nx)) continue;
          seen.add(ny * width + nx);
          queue.push([nx, ny]);
        }
      }
    }
  }
  return count;
}

function shoelaceArea(ring: number[][]): number {
  let twice = 0;
  for (let i = 0; i < ring.length - 1; i++) twice += ring[i]![0]! * ring[i + 1]![1]! - ring[i + 1]![0]! * ring[i]![1]!;
  return twice / 2;
}

describe("outlinesGeoJson", () => {
  it("outlines exactly the pixels of each cell: every pixel centre inside its cell's polygons, no other", () => {
    fc.assert(
      fc.property(labelImage, ({ width, height, labels }) => {
        const instances = instancesOf(labels, width, height);
        const { features } = outlinesGeoJson(labels, width, instances);
        const present = [1, 2].filter((label) => labels.includes(label));
        expect(features.map((feature) => feature.properties.cell_id)).toEqual(present);
        for (const feature of features) {
          const polygons =
            feature.geometry.type === "Polygon" ? [feature.geometry.coordinates] : feature.geometry.coordinates;
          // RFC 7946's right-hand rule: exterior rings counterclockwise (positive shoelace area), holes clockwise.
          for (const [exterior, ...holes] of polygons) {
            expect(shoelaceArea(exterior!)).toBeGreaterThan(0);
            for (const hole of holes) expect(shoelaceArea(hole)).toBeLessThan(0);
          }
          for (let y = 0; y < height; y++) {
            for (let x = 0; x < width; x++) {
              expect(contains(polygons as number[][][][], x + 0.5, y + 0.5)).toBe(
                labels[y * width + x] === feature.properties.cell_id,
              );
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it(
    "gives each 4-connected piece its polygon and each enclosed background region (8-connected) its hole, " +
      "vertices at turns only",
    () => {
      fc.assert(
        fc.property(labelImage, ({ width, height, labels }) => {
          const { features } = outlinesGeoJson(labels, width, instancesOf(labels, width, height));
          for (const feature of features) {
            const cellId = feature.properties.cell_id;
            const polygons =
              feature.geometry.type === "Polygon" ? [feature.geometry.coordinates] : feature.geometry.coordinates;
            const inCell = (x: number, y: number) =>
              x >= 0 && y >= 0 && x < width && y < height && labels[y * width + x] === cellId;
            const pieces = regions(width, height, (x, y) => inCell(x, y), FOUR);
            // Background regions of the image framed by one pixel of background, so that the
            // frame's region is the outside.
            const background = regions(width + 2, height + 2, (x, y) => !inCell(x - 1, y - 1), EIGHT);
            expect(polygons.length).toBe(pieces);
            expect(polygons.reduce((count, polygon) => count + polygon.length - 1, 0)).toBe(background - 1);
            for (const ring of polygons.flat()) {
              const open = ring.slice(0, -1);
              expect(ring[ring.length - 1]).toEqual(ring[0]);
              open.forEach((point, i) => {
                const previous = open[(i + open.length - 1) % open.length]!;
                const next = open[(i + 1) % open.length]!;
                // Axis-parallel edges, and a turn at every vertex.
                expect(point[0] === previous[0] || point[1] === previous[1]).toBe(true);
                expect(
                  (previous[0] === point[0] && point[0] === next[0]) ||
                    (previous[1] === point[1] && point[1] === next[1]),
                ).toBe(false);
              });
            }
          }
        }),
        { numRuns: 300 },
      );
    },
  );

  it("classifies each cell as a QuPath detection of its type, coloured as in the overlay", () => {
    const labels = new Uint16Array([1, 1, 0, 0]);
    const [first] = instancesOf(labels, 2, 2);
    const { features } = outlinesGeoJson(labels, 2, [{ ...first!, cellType: "astro", score: 0.75 }]);
    expect(features).toEqual([
      {
        type: "Feature",
        geometry: { type: "Polygon", coordinates: [expect.any(Array)] },
        properties: {
          objectType: "detection",
          classification: { name: "astro", color: [86, 180, 233] },
          cell_id: 1,
          cell_type: "astro",
          score: 0.75,
        },
      },
    ]);
    const ring = (features[0]!.geometry.coordinates as number[][][])[0]!;
    expect(new Set(ring.map((point) => point.join(",")))).toEqual(new Set(["0,0", "2,0", "2,1", "0,1"]));
  });
});
