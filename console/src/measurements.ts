/**
 * An image's per-cell measurements (`format=measurements`, one CSV row per cell keyed by `cell_id`, the
 * cell's value in the label image), read for the cell the user points at.
 */
import { parse } from "csv-parse/browser/esm/sync";

/** Each cell's measurements by `cell_id`, column name to value, in the CSV's column order. */
export function measurementsByCell(csv: string): Map<number, [string, string][]> {
  const rows = parse(csv, { columns: false, skip_empty_lines: true }) as string[][];
  const [header, ...records] = rows;
  const byCell = new Map<number, [string, string][]>();
  if (header === undefined) return byCell;
  const idColumn = header.indexOf("cell_id");
  if (idColumn < 0) return byCell;
  for (const record of records) {
    byCell.set(Number(record[idColumn]), header.map((name, column) => [name, record[column] ?? ""] as [string, string]).filter(([name]) => name !== "cell_id"));
  }
  return byCell;
}
