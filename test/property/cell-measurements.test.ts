/**
 * The single-pass measurements (scratch buffers reused from cell to cell, perimeter from the listed border
 * pixels, convex area from the rows' extreme pixels) against plain definitions computed over the whole
 * image, on label images painted from random, overlapping masks.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { measureCells } from "../../core/measurements/cell-measurements";
import { summarizeImage } from "../../core/measurements/image-summary";
import { labelMap } from "../../core/outputs/label-png";
import type { GrayImage, Instance } from "../../core/types";
import { maskIn } from "./mask-arbitraries";

const labelledImage = fc
  .record({ width: fc.integer({ min: 1, max: 20 }), height: fc.integer({ min: 1, max: 20 }) })
  .chain((size) =>
    fc.record({
      size: fc.constant(size),
      masks: fc.array(maskIn(size), { minLength: 1, maxLength: 4 }),
      pixels: fc.uint16Array({ minLength: size.width * size.height, maxLength: size.width * size.height }),
    }),
  );

/** skimage.measure.perimeter(neighbourhood=4), straight from its definition, on the whole image. */
function referencePerimeter(inside: (x: number, y: number) => boolean, width: number, height: number): number {
  const border = (x: number, y: number) =>
    inside(x, y) && !(inside(x - 1, y) && inside(x + 1, y) && inside(x, y - 1) && inside(x, y + 1));
  const weights = new Map([5, 7, 15, 17, 25, 27].map((code) => [code, 1]));
  for (const code of [21, 33]) weights.set(code, Math.SQRT2);
  for (const code of [13, 23]) weights.set(code, (1 + Math.SQRT2) / 2);
  let total = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!border(x, y)) continue;
      let code = 1;
      for (const [dx, dy] of [
        [-1, 0],
        [1, 0],
        [0, -1],
        [0, 1],
      ] as const)
        code += border(x + dx, y + dy) ? 2 : 0;
      for (const [dx, dy] of [
        [-1, -1],
        [1, -1],
        [-1, 1],
        [1, 1],
      ] as const)
        code += border(x + dx, y + dy) ? 10 : 0;
      total += weights.get(code) ?? 0;
    }
  }
  return total;
}

/** skimage's convex_hull_image area: the hull of every pixel's four edge midpoints, and the pixel centres in it. */
function referenceConvexArea(points: [number, number][], width: number, height: number): number {
  const corners = points.flatMap(
    ([x, y]) =>
      [
        [x - 0.5, y],
        [x + 0.5, y],
        [x, y - 0.5],
        [x, y + 0.5],
      ] as [number, number][],
  );
  corners.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  const cross = (o: number[], a: number[], b: number[]) =>
    (a[0]! - o[0]!) * (b[1]! - o[1]!) - (a[1]! - o[1]!) * (b[0]! - o[0]!);
  const chain = (sorted: [number, number][]) => {
    const hull: [number, number][] = [];
    for (const p of sorted) {
      while (hull.length >= 2 && cross(hull[hull.length - 2]!, hull[hull.length - 1]!, p) <= 0) hull.pop();
      hull.push(p);
    }
    return hull.slice(0, -1);
  };
  const hull = [...chain(corners), ...chain([...corners].reverse())];
  let count = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (hull.every((p, i) => cross(p, hull[(i + 1) % hull.length]!, [x, y]) >= -1e-9)) count++;
    }
  }
  return count;
}

describe("measureCells", () => {
  it("agrees with the plain definitions on every cell, cell after cell of different sizes", () => {
    fc.assert(
      fc.property(labelledImage, ({ size: { width, height }, masks, pixels }) => {
        const instances: Instance[] = masks.map((mask) => ({
          cellType: "shsy5y",
          score: 0.5,
          mask,
          area: 0,
          box: [0, 0, 0, 0],
        }));
        const labels = labelMap(instances, width, height);
        const image: GrayImage = { width, height, bitDepth: 16, pixels };
        const rows = measureCells(image, labels, instances);
        const present = instances.map((_, i) => i + 1).filter((cellId) => labels.includes(cellId));
        expect(rows.map((row) => row.cellId)).toEqual(present);
        for (const row of rows) {
          const points: [number, number][] = [];
          for (const [i, label] of labels.entries())
            if (label === row.cellId) points.push([i % width, Math.floor(i / width)]);
          const values = points.map(([x, y]) => pixels[y * width + x]!);
          const xs = points.map(([x]) => x);
          const ys = points.map(([, y]) => y);
          const inside = (x: number, y: number) =>
            x >= 0 && y >= 0 && x < width && y < height && labels[y * width + x] === row.cellId;
          expect(row.area).toBe(points.length);
          expect([row.bboxX, row.bboxY, row.bboxWidth, row.bboxHeight]).toEqual([
            Math.min(...xs),
            Math.min(...ys),
            Math.max(...xs) - Math.min(...xs) + 1,
            Math.max(...ys) - Math.min(...ys) + 1,
          ]);
          expect(row.centroidX).toBeCloseTo(xs.reduce((a, b) => a + b, 0) / points.length, 9);
          expect(row.centroidY).toBeCloseTo(ys.reduce((a, b) => a + b, 0) / points.length, 9);
          expect(row.perimeter).toBeCloseTo(referencePerimeter(inside, width, height), 9);
          expect(row.convexArea).toBe(referenceConvexArea(points, width, height));
          expect(row.integratedIntensity).toBe(values.reduce((a, b) => a + b, 0));
          expect([row.minIntensity, row.maxIntensity]).toEqual([Math.min(...values), Math.max(...values)]);
          const mean = row.integratedIntensity / points.length;
          expect(row.stdIntensity).toBeCloseTo(
            Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / points.length),
            6,
          );
        }
        const summary = summarizeImage(image, rows);
        const covered = labels.filter((label) => label !== 0).length;
        const insideSum = pixels.reduce((sum, value, i) => sum + (labels[i] !== 0 ? value : 0), 0);
        const outsideSum = pixels.reduce((sum, value, i) => sum + (labels[i] === 0 ? value : 0), 0);
        expect(summary.confluencePct).toBe((100 * covered) / labels.length);
        expect(summary.meanIntensityInside).toBe(covered > 0 ? insideSum / covered : undefined);
        expect(summary.meanIntensityOutside).toBe(
          covered < labels.length ? outsideSum / (labels.length - covered) : undefined,
        );
      }),
      { numRuns: 300 },
    );
  });
});
