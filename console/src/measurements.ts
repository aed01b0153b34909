/**
 * An image's per-cell measurements (`format=measurements`, one CSV row per cell keyed by `cell_id`, the
 * cell's value in the label image), read for the cell the user points at.
 */
import { parse } from "csv-parse/browser/esm/sync";

/** Columns the viewer already shows (from `instances.json`), or that name the image, not the cell. */
const SHOWN_ELSEWHERE = new Set(["cell_id", "image_id", "cell_type", "score", "area_px"]);

/** A number as a person reads it: whole numbers whole, others to 3 decimals. */
function readable(value: string): string {
  const number = Number(value);
  return value.trim() === "" || !Number.isFinite(number) || Number.isInteger(number)
    ? value
    : String(Number(number.toFixed(3)));
}

/**
 * Each cell's measurements by `cell_id`, column name to value, in the CSV's column order; columns shown
 * elsewhere and empty values (micrometre columns of an image without a pixel size) left out.
 */
export function measurementsByCell(csv: string): Map<number, [string, string][]> {
  const rows = parse(csv, { columns: false, skip_empty_lines: true }) as string[][];
  const [header, ...records] = rows;
  const byCell = new Map<number, [string, string][]>();
  if (header === undefined) return byCell;
  const idColumn = header.indexOf("cell_id");
  if (idColumn < 0) return byCell;
  for (const record of records) {
    const values = header.map((name, column) => [name, readable(record[column] ?? "")] as [string, string]);
    byCell.set(
      Number(record[idColumn]),
      values.filter(([name, value]) => !SHOWN_ELSEWHERE.has(name) && value !== ""),
    );
  }
  return byCell;
}
