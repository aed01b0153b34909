/**
 * The measurements against scikit-image's `regionprops` (Debian python3-skimage 0.19), the definitions
 * they follow: on masks the committed model predicted for real Sartorius images (the label images in
 * test/fixtures/predicted-masks, written once by `cellseg segment --profile fast`; their intensities come
 * from the original images in the shared data), and on random masks of every odd shape.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { decodeImage } from "../../core/image/decode";
import { maskFromPixelIndices } from "../../core/masks/binary-mask";
import { measureCells, type CellMeasurement } from "../../core/measurements/cell-measurements";
import { outlinesGeoJson } from "../../core/outputs/outlines-geojson";
import type { CellType, GrayImage, Instance } from "../../core/types";
import { PYTHON, REPO_ROOT, TRAIN_IMAGES } from "./helpers";
import { existsSync } from "node:fs";

const FIXTURES = path.join(REPO_ROOT, "test", "fixtures", "predicted-masks");
const IMAGE_IDS = ["085eb8fec206", "82c638427f2f"];

const hasSkimage = (() => {
  try {
    execFileSync(PYTHON, ["-c", "import skimage, scipy, numpy"], { stdio: "ignore" });
    return true;
  } catch {
    // vitest shows a skipped test without its reason: say it, and how to have it run.
    console.warn(
      `measurement reference tests skipped: ${PYTHON} cannot import skimage. Install it with\n` +
        "  apt-get install python3-skimage",
    );
    return false;
  }
})();
const hasImages = IMAGE_IDS.every((id) => existsSync(path.join(TRAIN_IMAGES, `${id}.png`)));
if (!hasImages)
  console.warn(`measurement reference tests on real masks skipped: the Sartorius images are not in ${TRAIN_IMAGES}`);

/** regionprops of every label of each (labels, intensity) pair of .npy files, as JSON. */
const REGIONPROPS = `
import json, sys
import numpy as np
from skimage.measure import regionprops
out = []
for labels_path, image_path in zip(sys.argv[1::2], sys.argv[2::2]):
    labels = np.load(labels_path)
    image = np.load(image_path)
    cells = []
    for r in regionprops(labels, intensity_image=image):
        values = image[labels == r.label].astype(np.float64)
        cells.append(dict(
            label=int(r.label), area=int(r.area),
            centroid=[float(v) for v in r.centroid], bbox=[int(v) for v in r.bbox],
            perimeter=float(r.perimeter), major=float(r.major_axis_length), minor=float(r.minor_axis_length),
            eccentricity=float(r.eccentricity), orientation=float(r.orientation), convex_area=int(r.convex_area),
            solidity=float(r.solidity), equivalent_diameter=float(r.equivalent_diameter),
            mean=float(r.mean_intensity), min=float(r.min_intensity), max=float(r.max_intensity),
            std=float(values.std()), sum=float(values.sum())))
    out.append(cells)
print(json.dumps(out))
`;

interface Reference {
  label: number;
  area: number;
  centroid: [number, number];
  bbox: [number, number, number, number];
  perimeter: number;
  major: number;
  minor: number;
  eccentricity: number;
  orientation: number;
  convex_area: number;
  solidity: number;
  equivalent_diameter: number;
  mean: number;
  min: number;
  max: number;
  std: number;
  sum: number;
}

const scratch = mkdtempSync(path.join(tmpdir(), "cellseg-regionprops-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A 2-D .npy file (format 1.0) of a typed array, so Python reads exactly our pixels. */
function writeNpy(file: string, values: Uint8Array | Uint16Array, width: number, height: number): string {
  const dtype = values instanceof Uint16Array ? "<u2" : "|u1";
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': (${height}, ${width}), }`;
  header += `${" ".repeat(64 - ((10 + header.length + 1) % 64))}\n`;
  const prefix = Buffer.concat([Buffer.from([0x93]), Buffer.from("NUMPY"), Buffer.from([1, 0]), Buffer.alloc(2)]);
  prefix.writeUInt16LE(header.length, 8);
  writeFileSync(
    file,
    Buffer.concat([
      prefix,
      Buffer.from(header, "latin1"),
      Buffer.from(values.buffer, values.byteOffset, values.byteLength),
    ]),
  );
  return file;
}

/** regionprops for each (labels, image) pair, in one Python run. */
function regionprops(pairs: { labels: Uint16Array; image: GrayImage }[]): Reference[][] {
  const args = pairs.flatMap(({ labels, image }, i) => [
    writeNpy(path.join(scratch, `labels-${i}.npy`), labels, image.width, image.height),
    writeNpy(path.join(scratch, `image-${i}.npy`), image.pixels, image.width, image.height),
  ]);
  return JSON.parse(execFileSync(PYTHON, ["-c", REGIONPROPS, ...args], { maxBuffer: 256 << 20 }).toString());
}

/** Instances whose masks are the labels' regions, in label order. */
function instancesOf(
  labels: Uint16Array,
  width: number,
  height: number,
  cells: { cellType: CellType; score: number }[],
): Instance[] {
  const pixels = cells.map(() => [] as number[]);
  for (const [index, label] of labels.entries()) if (label > 0) pixels[label - 1]!.push(index);
  return cells.map(({ cellType, score }, i) => {
    const mask = maskFromPixelIndices(pixels[i]!, width, height);
    return {
      cellType,
      score,
      mask,
      area: pixels[i]!.length,
      box: [mask.left, mask.top, mask.left + mask.width, mask.top + mask.height],
    };
  });
}

/**
 * Agreement with skimage. Everything but the convex area is the same arithmetic, so it agrees to rounding;
 * the convex hull image may differ by a pixel whose centre lies on the hull's edge (skimage decides it in
 * floating point), which moves the solidity by at most 1 / convex area.
 */
function expectAgreement(ours: CellMeasurement[], reference: Reference[]): { solidityDiffs: number } {
  expect(ours.map((cell) => cell.cellId)).toEqual(reference.map((cell) => cell.label));
  let solidityDiffs = 0;
  ours.forEach((cell, i) => {
    const ref = reference[i]!;
    const context = `cell ${cell.cellId}`;
    expect(cell.area, context).toBe(ref.area);
    expect([cell.bboxY, cell.bboxX, cell.bboxY + cell.bboxHeight, cell.bboxX + cell.bboxWidth], context).toEqual(
      ref.bbox,
    );
    expect(cell.centroidY, context).toBeCloseTo(ref.centroid[0], 9);
    expect(cell.centroidX, context).toBeCloseTo(ref.centroid[1], 9);
    expect(cell.perimeter, context).toBeCloseTo(ref.perimeter, 9);
    expect(cell.majorAxis, context).toBeCloseTo(ref.major, 6);
    expect(cell.minorAxis, context).toBeCloseTo(ref.minor, 6);
    expect(cell.eccentricity, context).toBeCloseTo(ref.eccentricity, 6);
    expect(cell.equivalentDiameter, context).toBeCloseTo(ref.equivalent_diameter, 9);
    // The orientation is the same angle modulo pi (-pi/2 and pi/2 are one direction).
    const turn = Math.abs(cell.orientation - ref.orientation);
    expect(Math.min(turn, Math.abs(turn - Math.PI)), context).toBeLessThan(1e-6);
    expect(Math.abs(cell.convexArea - ref.convex_area), context).toBeLessThanOrEqual(1);
    if (cell.convexArea !== ref.convex_area) solidityDiffs++;
    expect(Math.abs(cell.solidity - ref.solidity), context).toBeLessThanOrEqual(1 / ref.convex_area + 1e-12);
    expect(cell.meanIntensity, context).toBeCloseTo(ref.mean, 9);
    expect(cell.stdIntensity, context).toBeCloseTo(ref.std, 6);
    expect(cell.minIntensity, context).toBe(ref.min);
    expect(cell.maxIntensity, context).toBe(ref.max);
    expect(cell.integratedIntensity, context).toBe(ref.sum);
  });
  return { solidityDiffs };
}

describe.skipIf(!hasSkimage)("cell measurements against scikit-image regionprops", () => {
  it.skipIf(!hasImages)(
    "match on the model's masks of real images, with the original 8-bit intensities",
    async () => {
      // Prepare
      const cases = await Promise.all(
        IMAGE_IDS.map(async (id) => {
          const { data, info } = await sharp(readFileSync(path.join(FIXTURES, `${id}.labels.png`)))
            .toColourspace("grey16")
            .raw({ depth: "ushort" })
            .toBuffer({ resolveWithObject: true });
          const labels = new Uint16Array(data.buffer, data.byteOffset, data.length / 2).slice();
          const image = await decodeImage(readFileSync(path.join(TRAIN_IMAGES, `${id}.png`)));
          expect([info.width, info.height]).toEqual([image.width, image.height]);
          const { cells } = JSON.parse(readFileSync(path.join(FIXTURES, `${id}.cells.json`), "utf8")) as {
            cells: { cellType: CellType; score: number }[];
          };
          return { id, labels, image, instances: instancesOf(labels, image.width, image.height, cells) };
        }),
      );

      // Act
      const reference = regionprops(cases);
      const measured = cases.map(({ image, labels, instances }) => measureCells(image, labels, instances));

      // Assess
      let cells = 0;
      let solidityDiffs = 0;
      measured.forEach((ours, i) => {
        expect(ours.length).toBeGreaterThan(20);
        cells += ours.length;
        solidityDiffs += expectAgreement(ours, reference[i]!).solidityDiffs;
        expect(ours.every((cell) => cell.cellType === cases[i]!.instances[cell.cellId - 1]!.cellType)).toBe(true);
      });
      console.info(
        `${cells} predicted cells agree with regionprops; ${solidityDiffs} convex area(s) differ by one pixel`,
      );
    },
    120_000,
  );

  it("match on random masks (holes, pieces touching at a corner, one-pixel lines, image borders)", () => {
    // Prepare: each case is one image of a few labels painted from random bits.
    const sizes = fc.record({ width: fc.integer({ min: 1, max: 24 }), height: fc.integer({ min: 1, max: 24 }) });
    const caseArbitrary = sizes.chain(({ width, height }) =>
      fc.record({
        width: fc.constant(width),
        height: fc.constant(height),
        labels: fc.uint16Array({ min: 0, max: 3, minLength: width * height, maxLength: width * height }),
        pixels: fc.uint16Array({ minLength: width * height, maxLength: width * height }),
      }),
    );
    const cases = fc.sample(caseArbitrary, { numRuns: 300, seed: 12 }).map(({ width, height, labels, pixels }) => {
      // Relabel so that the labels present are 1..n, as the label image numbers cells.
      const present = [...new Set(labels)].filter((label) => label > 0).sort();
      const compact = labels.map((label) => (label === 0 ? 0 : present.indexOf(label) + 1));
      const image: GrayImage = { width, height, bitDepth: 16, pixels };
      const instances = instancesOf(
        compact,
        width,
        height,
        present.map(() => ({ cellType: "astro" as const, score: 0.5 })),
      );
      return { labels: compact, image, instances };
    });

    // Act
    const reference = regionprops(cases);

    // Assess
    cases.forEach(({ image, labels, instances }, i) => {
      expectAgreement(measureCells(image, labels, instances), reference[i]!);
    });
  }, 120_000);
});

describe.skipIf(!hasImages)("cell outlines of the model's masks", () => {
  it("trace the pixel boundary: each polygon encloses exactly the cell's pixels, holes subtracted", async () => {
    for (const id of IMAGE_IDS) {
      // Prepare
      const { data, info } = await sharp(readFileSync(path.join(FIXTURES, `${id}.labels.png`)))
        .toColourspace("grey16")
        .raw({ depth: "ushort" })
        .toBuffer({ resolveWithObject: true });
      const labels = new Uint16Array(data.buffer, data.byteOffset, data.length / 2).slice();
      const { cells } = JSON.parse(readFileSync(path.join(FIXTURES, `${id}.cells.json`), "utf8")) as {
        cells: { cellType: CellType; score: number }[];
      };
      const instances = instancesOf(labels, info.width, info.height, cells);

      // Act
      const outlines = outlinesGeoJson(labels, info.width, instances);

      // Assess
      expect(outlines.features.map((feature) => feature.properties.cell_id)).toEqual(instances.map((_, i) => i + 1));
      outlines.features.forEach((feature, i) => {
        const polygons =
          feature.geometry.type === "Polygon" ? [feature.geometry.coordinates] : feature.geometry.coordinates;
        const area = polygons.reduce(
          (sum, [outer, ...holes]) => sum + ringArea(outer!) - holes.reduce((h, ring) => h + ringArea(ring), 0),
          0,
        );
        expect(area, `${id} cell ${i + 1}`).toBe(instances[i]!.area);
        expect(polygons.flat(2).every(([x, y]) => Number.isInteger(x) && Number.isInteger(y))).toBe(true);
      });
    }
  });
});

/** Shoelace area of a closed ring, whatever its orientation. */
function ringArea(ring: number[][]): number {
  let twice = 0;
  for (let i = 0; i + 1 < ring.length; i++) twice += ring[i]![0]! * ring[i + 1]![1]! - ring[i + 1]![0]! * ring[i]![1]!;
  return Math.abs(twice) / 2;
}
