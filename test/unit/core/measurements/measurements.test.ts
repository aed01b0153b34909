import { describe, expect, it } from "vitest";
import { maskFromPixelIndices } from "../../../../core/masks/binary-mask";
import { measureCells } from "../../../../core/measurements/cell-measurements";
import { summarizeImage } from "../../../../core/measurements/image-summary";
import { regionProperties } from "../../../../core/measurements/region-properties";
import { renderImageResults } from "../../../../core/outputs/image-results";
import { labelMap } from "../../../../core/outputs/label-png";
import { MEASUREMENTS_CSV_HEADER, SUMMARY_CSV_HEADER } from "../../../../core/outputs/measurements-csv";
import type { CellType, GrayImage, Instance } from "../../../../core/types";

/** A 6 x 4 16-bit image whose pixel value is its index times 100. */
const image: GrayImage = {
  width: 6,
  height: 4,
  bitDepth: 16,
  pixels: Uint16Array.from({ length: 24 }, (_, i) => i * 100),
};

function cell(cellType: CellType, score: number, pixels: number[]): Instance {
  const mask = maskFromPixelIndices(pixels, image.width, image.height);
  return {
    cellType,
    score,
    mask,
    area: pixels.length,
    box: [mask.left, mask.top, mask.left + mask.width, mask.top + mask.height],
  };
}

// A 2 x 2 square at (1, 1) and a 1 x 3 bar on the right border.
const square = cell("astro", 0.9, [7, 8, 13, 14]);
const bar = cell("cort", 0.6, [5, 11, 17]);

function parseCsv(text: string): Record<string, string>[] {
  const [header, ...rows] = text.trimEnd().split("\n");
  const columns = header!.split(",");
  return rows.map((row) => Object.fromEntries(row.split(",").map((value, i) => [columns[i], value])));
}

describe("measureCells", () => {
  it("numbers cells as the label image does and measures them in the original image's units", () => {
    // Act
    const [first, second] = measureCells(image, labelMap([square, bar], 6, 4), [square, bar]);

    // Assess
    expect(first).toMatchObject({
      cellId: 1,
      cellType: "astro",
      area: 4,
      centroidX: 1.5,
      centroidY: 1.5,
      bboxX: 1,
      bboxY: 1,
      bboxWidth: 2,
      bboxHeight: 2,
    });
    expect(first).toMatchObject({
      meanIntensity: 1050,
      minIntensity: 700,
      maxIntensity: 1400,
      integratedIntensity: 4200,
      touchesBorder: false,
      solidity: 1,
    });
    expect(first!.stdIntensity).toBeCloseTo(Math.sqrt((350 ** 2 + 250 ** 2 + 250 ** 2 + 350 ** 2) / 4), 9);
    expect(first!.equivalentDiameter).toBeCloseTo(Math.sqrt(16 / Math.PI), 12);
    expect(second).toMatchObject({
      cellId: 2,
      cellType: "cort",
      area: 3,
      touchesBorder: true,
      bboxX: 5,
      bboxWidth: 1,
      bboxHeight: 3,
      eccentricity: 1,
    });
    // The bar is vertical: along the row axis, orientation 0.
    expect(second!.orientation).toBe(0);
  });

  it("measures the orientation from the vertical: +45 degrees for a '/' cell, -45 for a '\\' one", () => {
    // Diagonals of a 6 x 4 image: (1, 2), (2, 1), (3, 0) and (1, 0), (2, 1), (3, 2).
    const rising = cell("astro", 0.5, [13, 8, 3]);
    const falling = cell("astro", 0.5, [1, 8, 15]);
    const [up] = measureCells(image, labelMap([rising], 6, 4), [rising]);
    const [down] = measureCells(image, labelMap([falling], 6, 4), [falling]);
    expect((up!.orientation * 180) / Math.PI).toBeCloseTo(45, 9);
    expect((down!.orientation * 180) / Math.PI).toBeCloseTo(-45, 9);
  });

  it("gives a cell that lost every pixel to an earlier one no row, keeping the others' ids", () => {
    const hidden = cell("astro", 0.5, [7]);
    const rows = measureCells(image, labelMap([square, hidden, bar], 6, 4), [square, hidden, bar]);
    expect(rows.map((row) => row.cellId)).toEqual([1, 3]);
  });
});

describe("regionProperties", () => {
  it("refuses a crop that leaves the image, rather than read another row's labels", () => {
    const labels = labelMap([square], 6, 4);
    expect(() => regionProperties(image, labels, 1, { left: 5, top: 0, width: 2, height: 2 })).toThrow(RangeError);
    expect(() => regionProperties(image, labels, 1, { left: 0, top: -1, width: 2, height: 2 })).toThrow(RangeError);
  });
});

describe("summarizeImage", () => {
  it("counts per type, confluence, areas and intensity inside and outside the cells", () => {
    const labels = labelMap([square, bar], 6, 4);
    const summary = summarizeImage(image, measureCells(image, labels, [square, bar]));
    const total = (23 * 24 * 100) / 2;
    expect(summary).toEqual({
      cells: 2,
      cellsPerType: { shsy5y: 0, astro: 1, cort: 1 },
      confluencePct: (100 * 7) / 24,
      meanArea: 3.5,
      medianArea: 3.5,
      meanIntensityInside: (4200 + 3300) / 7,
      meanIntensityOutside: (total - 7500) / 17,
    });
  });
});

describe("renderImageResults: measurements.csv and summary.csv", () => {
  it("writes a row per cell with pixel units only, when the pixel size is unknown", async () => {
    const results = await renderImageResults("img,1", "img,1.png", image, [square, bar], { overlayStyle: "outline" });
    const rows = parseCsv(MEASUREMENTS_CSV_HEADER + results.measurementRows.replace(/^"img,1"/gm, "img1"));
    expect(rows.map((row) => [row.cell_id, row.cell_type, row.area_px, row.touches_border])).toEqual([
      ["1", "astro", "4", "false"],
      ["2", "cort", "3", "true"],
    ]);
    expect(rows.every((row) => row.pixel_size_um === "" && row.area_um2 === "" && row.perimeter_um === "")).toBe(true);
    expect(results.measurementRows.startsWith('"img,1",1,astro,0.9,4,1.5,1.5,1,1,2,2,')).toBe(true);
  });

  it("adds micrometre columns from the given pixel size, over the image's own", async () => {
    const results = await renderImageResults("a", "a.tif", { ...image, pixelSizeUm: 10 }, [square], {
      overlayStyle: "outline",
      pixelSizeUm: 0.5,
    });
    const [row] = parseCsv(MEASUREMENTS_CSV_HEADER + results.measurementRows);
    expect(row).toMatchObject({ pixel_size_um: "0.5", area_um2: "1", centroid_x_um: "0.75", centroid_y_um: "0.75" });
    expect(Number(row!.perimeter_um)).toBeCloseTo(Number(row!.perimeter_px) * 0.5, 3);
    const [summary] = parseCsv(SUMMARY_CSV_HEADER + results.summaryRow);
    expect(summary).toMatchObject({ pixel_size_um: "0.5", mean_area_um2: "1", median_area_um2: "1" });
  });

  it("uses the image's own pixel size (a TIFF's resolution tags) when none is given", async () => {
    const results = await renderImageResults("a", "a.tif", { ...image, pixelSizeUm: 2 }, [square], {
      overlayStyle: "outline",
    });
    expect(parseCsv(MEASUREMENTS_CSV_HEADER + results.measurementRows)[0]).toMatchObject({
      pixel_size_um: "2",
      area_um2: "16",
    });
  });

  it("gives an image without cells no measurement row and a summary row with count 0", async () => {
    const results = await renderImageResults("empty", "empty.png", image, [], { overlayStyle: "outline" });
    expect(results.measurementRows).toBe("");
    expect(results.outlines).toEqual({ type: "FeatureCollection", features: [] });
    const [summary] = parseCsv(SUMMARY_CSV_HEADER + results.summaryRow);
    expect(summary).toMatchObject({
      image_id: "empty",
      cell_count: "0",
      count_astro: "0",
      confluence_pct: "0",
      mean_area_px: "",
      median_area_px: "",
      cell_type: "",
    });
    expect(Number(summary!.mean_intensity_outside)).toBe(1150);
    expect(summary!.mean_intensity_inside).toBe("");
  });
});
