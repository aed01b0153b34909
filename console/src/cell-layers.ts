/**
 * An image's cells (`instances.json`) made drawable: a map from pixel to cell for hovering, and an outline
 * layer and a fill layer at the image's resolution, in the cell types' Okabe-Ito colours (the same as the
 * overlay PNG's), drawn over the image as the user toggles them.
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
  readonly outline: ImageData;
  readonly fill: ImageData;
}

/**
 * @example
 * ```ts
 * const layers = cellLayers(await (await api.fetchResult(links.json)).json());
 * context.putImageData(layers.outline, 0, 0);
 * ```
 */
export function cellLayers(document: InstancesDocument): CellLayers {
  const { width, height, instances } = document;
  // 0: background; i + 1: instances[i]. Cells never overlap, so one index per pixel says everything.
  const labels = new Uint32Array(width * height);
  for (const [index, cell] of instances.entries()) {
    const mask = decodeKaggleRle(cell.rle, width, height);
    for (let y = 0; y < mask.height; y++) {
      for (let x = 0; x < mask.width; x++) {
        if (mask.data[y * mask.width + x]) labels[(mask.top + y) * width + mask.left + x] = index + 1;
      }
    }
  }
  const outline = new ImageData(width, height);
  const fill = new ImageData(width, height);
  const colours = instances.map((cell) => CELL_TYPE_COLOURS[cell.cellType]);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const pixel = y * width + x;
      const label = labels[pixel]!;
      if (label === 0) continue;
      const [r, g, b] = colours[label - 1]!;
      fill.data.set([r, g, b, Math.round(255 * FILL_ALPHA)], pixel * 4);
      // An edge pixel of a cell: one of its 4 neighbours is another cell, background or off the image.
      const edge =
        x === 0 || y === 0 || x === width - 1 || y === height - 1 || labels[pixel - 1] !== label || labels[pixel + 1] !== label || labels[pixel - width] !== label || labels[pixel + width] !== label;
      if (edge) outline.data.set([r, g, b, 255], pixel * 4);
    }
  }
  const counts = Object.fromEntries(CELL_TYPES.map((type) => [type, instances.filter((cell) => cell.cellType === type).length])) as Record<CellType, number>;
  return {
    width,
    height,
    cells: instances,
    counts,
    cellAt: (x, y) => (x >= 0 && y >= 0 && x < width && y < height ? instances[labels[Math.floor(y) * width + Math.floor(x)]! - 1] : undefined),
    outline,
    fill,
  };
}

/** CSS colour of a cell type. */
export function cellTypeColour(type: CellType): string {
  return `rgb(${CELL_TYPE_COLOURS[type].join(" ")})`;
}
