/**
 * An image's cells (`instances.json`) made drawable: a map from pixel to cell for hovering, and an outline
 * layer and a fill layer at the image's resolution, in the cell types' Okabe-Ito colours (the same as the
 * overlay PNG's), drawn over the image as the user toggles them.
 *
 * Built for images of tens of megapixels (a tiled plate scan): the pixel map takes 2 bytes a pixel (4 past
 * 65,535 cells), the layers are handed to the browser as bitmaps and their pixels are not kept, and one
 * buffer of 4 bytes a pixel is painted at a time.
 */
import { decodeKaggleRle } from "../../core/masks/kaggle-rle";
import { CELL_TYPE_COLOURS } from "../../core/outputs/cell-type-colours";
import type { InstancesDocument, ResultInstance } from "../../core/schemas/job-documents";
import { CELL_TYPES, type CellType } from "../../core/types";

/** Fill opacity: the type reads at a glance while the cell's texture stays visible. */
const FILL_ALPHA = 0.35;

export interface CellLayers {
  readonly width: number;
  readonly height: number;
  readonly cells: readonly ResultInstance[];
  readonly counts: Readonly<Record<CellType, number>>;
  /** The cell at a pixel, if any. */
  cellAt(x: number, y: number): ResultInstance | undefined;
  readonly outline: ImageBitmap;
  readonly fill: ImageBitmap;
}

/**
 * @example
 * ```ts
 * const layers = await cellLayers(await (await api.fetchResult(links.json)).json());
 * context.drawImage(layers.outline, 0, 0);
 * ```
 */
export async function cellLayers(document: InstancesDocument): Promise<CellLayers> {
  const { width, height, instances } = document;
  // 0: background; i + 1: instances[i]. Cells never overlap, so one index per pixel says everything.
  const labels = instances.length < 0xffff ? new Uint16Array(width * height) : new Uint32Array(width * height);
  for (const [index, cell] of instances.entries()) {
    const mask = decodeKaggleRle(cell.rle, width, height);
    for (let y = 0; y < mask.height; y++) {
      const row = (mask.top + y) * width + mask.left;
      for (let x = 0; x < mask.width; x++) if (mask.data[y * mask.width + x]) labels[row + x] = index + 1;
    }
  }
  const outlineColours = packedColours(instances, 255);
  const fillColours = packedColours(instances, Math.round(255 * FILL_ALPHA));

  const buffer = new ImageData(width, height);
  const pixels = new Uint32Array(buffer.data.buffer);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const pixel = y * width + x;
      const label = labels[pixel]!;
      if (label === 0) continue;
      // An edge pixel of a cell: one of its 4 neighbours is another cell, background or off the image.
      const edge =
        x === 0 ||
        y === 0 ||
        x === width - 1 ||
        y === height - 1 ||
        labels[pixel - 1] !== label ||
        labels[pixel + 1] !== label ||
        labels[pixel - width] !== label ||
        labels[pixel + width] !== label;
      if (edge) pixels[pixel] = outlineColours[label]!;
    }
  }
  const outline = await createImageBitmap(buffer);
  for (let pixel = 0; pixel < pixels.length; pixel++) pixels[pixel] = fillColours[labels[pixel]!]!;
  const fill = await createImageBitmap(buffer);

  const counts = Object.fromEntries(
    CELL_TYPES.map((type) => [type, instances.filter((cell) => cell.cellType === type).length]),
  ) as Record<CellType, number>;
  return {
    width,
    height,
    cells: instances,
    counts,
    cellAt: (x, y) =>
      x >= 0 && y >= 0 && x < width && y < height
        ? instances[labels[Math.floor(y) * width + Math.floor(x)]! - 1]
        : undefined,
    outline,
    fill,
  };
}

/**
 * Each label's colour as one RGBA pixel of a Uint32Array over ImageData (little-endian, as every browser's
 * platform is: the red byte first); label 0 transparent.
 */
function packedColours(instances: readonly ResultInstance[], alpha: number): Uint32Array {
  const colours = new Uint32Array(instances.length + 1);
  for (const [index, cell] of instances.entries()) {
    const [r, g, b] = CELL_TYPE_COLOURS[cell.cellType];
    colours[index + 1] = ((alpha << 24) | (b << 16) | (g << 8) | r) >>> 0;
  }
  return colours;
}

/** CSS colour of a cell type. */
export function cellTypeColour(type: CellType): string {
  return `rgb(${CELL_TYPE_COLOURS[type].join(" ")})`;
}
