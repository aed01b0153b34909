import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CellMeasurement } from "../../core/measurements/cell-measurements";
import { MEASUREMENTS_CSV_HEADER, measurementRows } from "../../core/outputs/measurements-csv";

/** A cell whose every decimal column holds `value`. */
function cellOf(value: number): CellMeasurement {
  return {
    cellId: 1,
    cellType: "astro",
    score: value,
    area: 1,
    centroidX: value,
    centroidY: value,
    bboxX: 0,
    bboxY: 0,
    bboxWidth: 1,
    bboxHeight: 1,
    equivalentDiameter: value,
    perimeter: value,
    majorAxis: value,
    minorAxis: value,
    eccentricity: value,
    orientation: (value * Math.PI) / 180,
    convexArea: 1,
    solidity: value,
    formFactor: value,
    touchesBorder: false,
    meanIntensity: value,
    stdIntensity: value,
    minIntensity: 0,
    maxIntensity: 0,
    integratedIntensity: 0,
  };
}

describe("measurementRows", () => {
  it("writes every decimal as String writes it rounded to 4 decimals, whatever its size or sign", () => {
    const columns = MEASUREMENTS_CSV_HEADER.trimEnd().split(",");
    const decimalColumns = [
      "score",
      "centroid_x",
      "centroid_y",
      "equivalent_diameter_px",
      "perimeter_px",
      "major_axis_px",
      "solidity",
      "mean_intensity",
    ];
    const values = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
      fc.double({ noNaN: true }),
      // Near the rounding's ties, where the rounded value's last decimal is decided.
      fc
        .tuple(fc.integer({ min: -1e6, max: 1e6 }), fc.constantFrom(0, 5e-5, -5e-5, 4.9e-5))
        .map(([units, offset]) => units / 1e4 + offset),
    );
    fc.assert(
      fc.property(values, (value) => {
        const fields = measurementRows("image", [cellOf(value)])
          .trimEnd()
          .split(",");
        const expected = String(Math.round(value * 1e4) / 1e4);
        for (const column of decimalColumns) expect(fields[columns.indexOf(column)], column).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});
