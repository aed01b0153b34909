/**
 * Tiling of images larger than the model's working size: a grid of overlapping tiles, and which tile
 * "owns" each point. Ownership splits every overlap at its exact middle, so the owned regions partition the
 * image and each owned region lies at least half an overlap away from its tile's inner edges: a cell
 * smaller than the overlap whose centre a tile owns is seen whole by that tile (see stitch.ts).
 */
import type { GrayImage } from "../types";

/** How an image is cut into tiles. */
export interface TilingOptions {
  /** Width of a tile; images this wide or narrower get one column. */
  readonly tileWidth: number;
  /** Height of a tile; images this tall or shorter get one row. */
  readonly tileHeight: number;
  /** Pixels shared by neighbouring tiles (at least; the last tile is flush with the edge, so it may share more). */
  readonly overlap: number;
}

/**
 * The model's working size (the Sartorius images it was trained on are 704 x 520) and an overlap larger
 * than the cells (shsy5y and cort are 10-60 px across; most astrocytes fit in 128 px).
 */
export const DEFAULT_TILING = { tileWidth: 704, tileHeight: 520, overlap: 128 } as const satisfies TilingOptions;

/** One tile's extent along one axis, and the part of the axis it owns. */
export interface AxisSpan {
  /** First pixel of the tile (inclusive). */
  readonly start: number;
  /** End of the tile (exclusive). */
  readonly end: number;
  /**
   * The owned interval in doubled coordinates, `[ownStart2, ownEnd2)`: a point at `p` (which may be a
   * half-pixel, like a box centre) is owned when `ownStart2 <= 2p < ownEnd2`. Doubling keeps the exact
   * middle of an overlap an integer, so no rounding can give a point to two tiles or to none.
   */
  readonly ownStart2: number;
  readonly ownEnd2: number;
}

/** A rectangle of the image that is sent to the model on its own. */
export interface Tile {
  /** Position in {@link TileGrid.tiles}: row-major. */
  readonly index: number;
  readonly column: number;
  readonly row: number;
  /** Top-left corner in the image. */
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface TileGrid {
  readonly imageWidth: number;
  readonly imageHeight: number;
  readonly columns: readonly AxisSpan[];
  readonly rows: readonly AxisSpan[];
  /** Row-major: `tiles[row * columns.length + column]`. */
  readonly tiles: readonly Tile[];
}

/**
 * The tile grid of an image: tiles of `tileWidth` x `tileHeight` (or the image's size where it is
 * smaller), consecutive tiles `overlap` pixels apart at least, the last column and row flush with the
 * image's edge.
 *
 * @throws RangeError when a size is not a positive integer, or the overlap is negative or not smaller than
 *   both tile sides.
 * @example
 * ```ts
 * const grid = tileGrid(3000, 2000, DEFAULT_TILING);
 * grid.tiles.length; // 25 (5 columns x 5 rows)
 * grid.tiles[1];     // { index: 1, column: 1, row: 0, x: 576, y: 0, width: 704, height: 520 }
 * ```
 */
export function tileGrid(imageWidth: number, imageHeight: number, options: TilingOptions): TileGrid {
  const { tileWidth, tileHeight, overlap } = options;
  for (const [name, value] of Object.entries({ imageWidth, imageHeight, tileWidth, tileHeight })) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= Math.min(tileWidth, tileHeight)) {
    throw new RangeError(`overlap must be an integer in [0, ${Math.min(tileWidth, tileHeight)}), got ${overlap}`);
  }
  const columns = axisSpans(imageWidth, tileWidth, overlap);
  const rows = axisSpans(imageHeight, tileHeight, overlap);
  const tiles: Tile[] = [];
  for (const [row, rowSpan] of rows.entries()) {
    for (const [column, columnSpan] of columns.entries()) {
      tiles.push({
        index: tiles.length,
        column,
        row,
        x: columnSpan.start,
        y: rowSpan.start,
        width: columnSpan.end - columnSpan.start,
        height: rowSpan.end - rowSpan.start,
      });
    }
  }
  return { imageWidth, imageHeight, columns, rows, tiles };
}

function axisSpans(length: number, tileSize: number, overlap: number): AxisSpan[] {
  if (length <= tileSize) return [{ start: 0, end: length, ownStart2: 0, ownEnd2: 2 * length }];
  const stride = tileSize - overlap;
  const count = Math.ceil((length - tileSize) / stride) + 1;
  const starts = Array.from({ length: count }, (_, i) => (i === count - 1 ? length - tileSize : i * stride));
  // Doubled middle of the overlap between tile i and tile i + 1: start(i + 1) + end(i).
  const boundaries = starts.slice(1).map((next, i) => next + starts[i] + tileSize);
  return starts.map((start, i) => ({
    start,
    end: start + tileSize,
    ownStart2: i === 0 ? 0 : boundaries[i - 1],
    ownEnd2: i === count - 1 ? 2 * length : boundaries[i],
  }));
}

/** Whether the span owns the doubled coordinate `p2`; the first and last spans own everything beyond the image too. */
function spanOwns(spans: readonly AxisSpan[], index: number, p2: number): boolean {
  const span = spans[index];
  return (index === 0 || p2 >= span.ownStart2) && (index === spans.length - 1 || p2 < span.ownEnd2);
}

/**
 * Whether `tile` owns the point whose DOUBLED coordinates are (`x2`, `y2`), e.g. the centre of a box
 * `[x1, y1, x2, y2]` is `(x1 + x2, y1 + y2)` in doubled coordinates. Exactly one tile of the grid owns
 * any point.
 *
 * @example
 * ```ts
 * const [x1, y1, x2, y2] = maskBox(mask);
 * if (ownsPoint2(grid, tile, x1 + x2, y1 + y2)) keep(mask);
 * ```
 */
export function ownsPoint2(grid: TileGrid, tile: Tile, x2: number, y2: number): boolean {
  return spanOwns(grid.columns, tile.column, x2) && spanOwns(grid.rows, tile.row, y2);
}

/**
 * The tile that owns pixel (x, y) (its centre, that is).
 *
 * @example
 * ```ts
 * ownerOfPixel(tileGrid(3000, 2000, DEFAULT_TILING), 640, 10).index; // 1: 640 is past the middle of the first overlap
 * ```
 */
export function ownerOfPixel(grid: TileGrid, x: number, y: number): Tile {
  const column = grid.columns.findIndex((_, i) => spanOwns(grid.columns, i, 2 * x + 1));
  const row = grid.rows.findIndex((_, i) => spanOwns(grid.rows, i, 2 * y + 1));
  return grid.tiles[row * grid.columns.length + column];
}

/**
 * The part of the image under a tile, as an image of its own (pixels copied).
 *
 * @throws RangeError when the tile does not lie inside the image.
 * @example
 * ```ts
 * const crops = grid.tiles.map((tile) => cropImage(image, tile));
 * ```
 */
export function cropImage(image: GrayImage, tile: Pick<Tile, "x" | "y" | "width" | "height">): GrayImage {
  const { x, y, width, height } = tile;
  if (x < 0 || y < 0 || width < 1 || height < 1 || x + width > image.width || y + height > image.height) {
    throw new RangeError(
      `tile ${width}x${height}+${x}+${y} does not lie inside the ${image.width}x${image.height} image`,
    );
  }
  const pixels = image.pixels instanceof Uint16Array ? new Uint16Array(width * height) : new Uint8Array(width * height);
  for (let row = 0; row < height; row++) {
    const from = (y + row) * image.width + x;
    pixels.set(image.pixels.subarray(from, from + width), row * width);
  }
  return { width, height, bitDepth: image.bitDepth, pixels };
}
