/**
 * Kaggle's CSV files: the training annotations (`id,annotation,width,height,cell_type`) and submissions
 * (`id,predicted`), both one row per cell instance with a Kaggle RLE. Parsing groups the rows by image;
 * decoding the RLEs is left to the caller, since a submission does not carry the image size.
 */
import { CsvError, parse } from "csv-parse/sync";
import { InvalidFormatError } from "../errors";
import { encodeKaggleRle } from "../masks/kaggle-rle";
import { CELL_TYPES, type BinaryMask, type CellType } from "../types";

/** One image's rows of a Kaggle CSV. Size and type are known only from the training format. */
export interface KaggleImageRecord {
  width?: number;
  height?: number;
  cellType?: CellType;
  /** The non-empty RLEs in file order; an image listed only with an empty RLE has none. */
  readonly annotations: string[];
}

/** A parsed Kaggle CSV: image id to its rows, in the order images first appear. */
export type KaggleCsv = Map<string, KaggleImageRecord>;

/** The header line of a submission, newline included, so that a stream writes it as is. */
export const SUBMISSION_CSV_HEADER = "id,predicted\n";

/**
 * Parses a training CSV (extra columns, as in Kaggle's original file, are ignored).
 *
 * @throws InvalidFormatError naming the line, for a missing column, an empty id, a width or height that is not
 * a positive integer, an unknown cell type, or an image whose size or type changes between its rows.
 * @example
 * const truth = parseTrainingCsv(await readFile("train.csv", "utf8"));
 * truth.get("0030fd0e6378"); // { width: 704, height: 520, cellType: "shsy5y", annotations: [...] }
 */
export function parseTrainingCsv(text: string | Uint8Array): KaggleCsv {
  const images: KaggleCsv = new Map();
  readRows(text, "training", ["id", "annotation", "width", "height", "cell_type"], (row, line) => {
    const fail = (what: string) => new InvalidFormatError(`training CSV line ${line}: ${what}`);
    const size = (name: "width" | "height") => {
      const value = Number(row[name]);
      if (!/^\d+$/.test(row[name]) || value === 0) throw fail(`${name} "${row[name]}" is not a positive integer`);
      return value;
    };
    const cellType = CELL_TYPES.find((type) => type === row.cell_type);
    if (cellType === undefined) throw fail(`cell_type "${row.cell_type}" is not one of ${CELL_TYPES.join(", ")}`);
    const fields = { width: size("width"), height: size("height"), cellType };
    const image = imageRecord(images, row.id, line, "training");
    for (const [name, column] of [
      ["width", "width"],
      ["height", "height"],
      ["cellType", "cell_type"],
    ] as const) {
      if (image[name] !== undefined && image[name] !== fields[name]) {
        throw fail(`image ${row.id} has ${column} ${fields[name]} here but ${image[name]} on an earlier line`);
      }
    }
    addAnnotation(Object.assign(image, fields), row.annotation);
  });
  return images;
}

/**
 * Parses a submission CSV.
 *
 * @throws InvalidFormatError naming the line, for a missing column or an empty id.
 * @example
 * parseSubmissionCsv("id,predicted\na,1 3\na,9 2\nb,\n");
 * // Map { "a" => { annotations: ["1 3", "9 2"] }, "b" => { annotations: [] } }
 */
export function parseSubmissionCsv(text: string | Uint8Array): KaggleCsv {
  const images: KaggleCsv = new Map();
  readRows(text, "submission", ["id", "predicted"], (row, line) => {
    addAnnotation(imageRecord(images, row.id, line, "submission"), row.predicted);
  });
  return images;
}

/**
 * One image's submission rows, each ending in a newline: one per instance with its Kaggle RLE, or exactly
 * `id,` when there is none (instances with empty masks are dropped: an empty RLE means "no cells").
 *
 * @example
 * process.stdout.write(SUBMISSION_CSV_HEADER);
 * for (const { id, instances } of results) process.stdout.write(formatSubmissionRows(id, instances));
 */
export function formatSubmissionRows(id: string, instances: readonly { readonly mask: BinaryMask }[]): string {
  const field = csvField(id);
  const rles = instances.map((instance) => encodeKaggleRle(instance.mask)).filter((rle) => rle !== "");
  return rles.length === 0 ? `${field},\n` : rles.map((rle) => `${field},${rle}\n`).join("");
}

/**
 * A whole submission: the header, then {@link formatSubmissionRows} for each image in order.
 *
 * @example
 * formatSubmissionCsv([{ id: "a", instances: [] }]); // "id,predicted\na,\n"
 */
export function formatSubmissionCsv(
  images: Iterable<{ readonly id: string; readonly instances: readonly { readonly mask: BinaryMask }[] }>,
): string {
  let text = SUBMISSION_CSV_HEADER;
  for (const { id, instances } of images) text += formatSubmissionRows(id, instances);
  return text;
}

/** Kaggle ids are hex, but an id from elsewhere must not break the row (RFC 4180 quoting). */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function readRows<C extends string>(
  text: string | Uint8Array,
  format: string,
  columns: readonly C[],
  onRow: (row: Record<C, string>, line: number) => void,
): void {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // csv-parse's typings ignore `info: true`, which wraps each record with the line it ends on.
    records = parse(text, { info: true, bom: true, skip_empty_lines: true }) as unknown as typeof records;
  } catch (error) {
    if (error instanceof CsvError) throw new InvalidFormatError(`${format} CSV: ${error.message}`, { cause: error });
    throw error;
  }
  const [header, ...rows] = records;
  if (header === undefined)
    throw new InvalidFormatError(`${format} CSV is empty: expected a header ${columns.join(",")}`);
  const indices = columns.map((column) => header.record.indexOf(column));
  const missing = columns.filter((_, i) => indices[i] < 0);
  if (missing.length > 0) {
    throw new InvalidFormatError(
      `${format} CSV line ${header.info.lines}: header lacks ${missing.join(", ")} (found ${header.record.join(",")})`,
    );
  }
  for (const { record, info } of rows) {
    const row = Object.fromEntries(columns.map((column, i) => [column, record[indices[i]]])) as Record<C, string>;
    onRow(row, info.lines);
  }
}

function imageRecord(images: KaggleCsv, id: string, line: number, format: string): KaggleImageRecord {
  if (id === "") throw new InvalidFormatError(`${format} CSV line ${line}: empty id`);
  let image = images.get(id);
  if (image === undefined) {
    image = { annotations: [] };
    images.set(id, image);
  }
  return image;
}

function addAnnotation(image: KaggleImageRecord, rle: string): void {
  const trimmed = rle.trim();
  if (trimmed !== "") image.annotations.push(trimmed);
}
