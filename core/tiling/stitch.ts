/**
 * Stitching: the instances the model found in each tile (in the tile's frame) become one list of
 * disjoint instances of the whole image, each cell kept once.
 *
 * A cell in an overlap is seen by several tiles: whole by some, cut by the inner edge of others (an edge
 * of the tile that is not an edge of the image). The rule:
 *
 * 1. **Merge the views of a cell.** Two views from different tiles are the same cell when their masks
 *    agree where both tiles can see (IoU >= {@link StitchOptions.minSeamIou} over the two tiles' common
 *    rectangle), and so are the views either of them matches, whole views as well as cut ones. Such views
 *    are merged into one: the union of the cut views' masks and of the best whole view's (each whole view
 *    is all of the cell to its tile, so their union would grow it by every pixel the tiles disagree
 *    about), the best score. A cell larger than the overlap, cut by every tile that sees it, is put back
 *    together.
 * 2. **Keep what was seen whole or is owned.** A merged cell is kept when one of its views was whole, or
 *    when one of its tiles owns the centre of its box (see tiles.ts). A lone cut view whose tile does
 *    not own its centre is a fragment of a cell another tile decides about, and is dropped.
 * 3. **Make them disjoint.** In descending score order, each pixel to the first cell that claims it
 *    (core/masks/overlap.ts); a cell that would lose more than half its pixels to better ones is
 *    another view of a cell already kept (one drawn too differently to match it, such as a part of it),
 *    and is dropped without taking any pixel from the cells after it.
 */
import { maskArea, maskBox, maskIntersectionArea } from "../masks/binary-mask";
import { resolveOverlaps } from "../masks/overlap";
import type { BinaryMask, Box, CellType, Instance } from "../types";
import { ownsPoint2, type Tile, type TileGrid } from "./tiles";

/** One instance as the model returned it for a tile: box and mask in the tile's frame. */
export interface TileInstance {
  readonly cellType: CellType;
  readonly score: number;
  readonly box: Box;
  /** A mask of the tile (`imageWidth` x `imageHeight` = the tile's size). */
  readonly mask: BinaryMask;
}

/** The model's answer for one tile. */
export interface TileResult {
  readonly tile: Tile;
  readonly instances: readonly TileInstance[];
}

/** An instance of the whole image, with the index of the tile whose view scored best. */
export interface StitchedInstance extends Instance {
  readonly tile: number;
}

export interface StitchOptions {
  /**
   * Two views from different tiles are one cell when their masks' IoU over the tiles' common rectangle is
   * at least this. @default 0.5
   */
  readonly minSeamIou?: number;
  /**
   * A cell keeps at least this fraction of its pixels after better cells took theirs, or it is dropped as
   * a duplicate view. @default 0.5
   */
  readonly minRetainedFraction?: number;
}

/** A tile instance in the image's frame. */
interface View {
  readonly instance: TileInstance;
  readonly tile: Tile;
  readonly mask: BinaryMask;
  /** Tight box of the mask, image frame. */
  readonly box: Box;
  readonly cut: boolean;
}

/**
 * Stitches tile results into the image's instances: disjoint, in descending score order.
 *
 * @throws RangeError when a result's tile is not the grid's, or a mask is not of its tile's size.
 * @example
 * ```ts
 * const grid = tileGrid(image.width, image.height, DEFAULT_TILING);
 * const results = await Promise.all(
 *   grid.tiles.map(async (tile) => ({ tile, instances: await segment(cropImage(image, tile)) })),
 * );
 * const instances = stitchTiles(grid, results);
 * ```
 */
export function stitchTiles(
  grid: TileGrid,
  results: readonly TileResult[],
  options: StitchOptions = {},
): StitchedInstance[] {
  const { minSeamIou = 0.5, minRetainedFraction = 0.5 } = options;
  const views = collectViews(grid, results);

  // 1. Merge views of one cell (union-find over the pairs that match across a seam).
  // Only the views of overlapping tiles are compared, so the work grows with the image, not its square.
  // Whole views are matched too, not left to step 3: up to four tiles see a cell whole, and may draw it
  // so differently that two of the drawings match only a third one (the starter model drew its core, all
  // of it and a crescent around the core). Step 3 would drop the full drawing, which loses most of itself
  // to the core, and keep the crescent, which keeps more than half: one cell twice.
  const parent = views.map((_, i) => i);
  const find = (i: number): number => {
    if (parent[i] !== i) parent[i] = find(parent[i]);
    return parent[i];
  };
  const byTile = grid.tiles.map(() => [] as number[]);
  for (const [i, view] of views.entries()) byTile[view.tile.index].push(i);
  for (const [i, a] of views.entries()) {
    for (const other of grid.tiles) {
      if (other.index <= a.tile.index || !boxesIntersect(tileBox(a.tile), tileBox(other))) continue;
      for (const j of byTile[other.index]) {
        const b = views[j];
        if (boxesIntersect(a.box, b.box) && seamIou(a, b) >= minSeamIou) parent[find(i)] = find(j);
      }
    }
  }
  const groups = new Map<number, View[]>();
  views.forEach((view, i) => {
    const root = find(i);
    const members = groups.get(root);
    if (members) members.push(view);
    else groups.set(root, [view]);
  });

  // 2. Keep cells seen whole somewhere, or owned by one of their tiles.
  const cells: { best: View; mask: BinaryMask; order: number }[] = [];
  for (const members of groups.values()) {
    const whole = members.filter((view) => !view.cut);
    const parts = whole.length > 0 ? [bestView(whole), ...members.filter((view) => view.cut)] : members;
    const mask = parts.slice(1).reduce((union, view) => unionMasks(union, view.mask), parts[0].mask);
    const [x1, y1, x2, y2] = maskBox(mask);
    const kept = whole.length > 0 || members.some((view) => ownsPoint2(grid, view.tile, x1 + x2, y1 + y2));
    if (!kept) continue;
    cells.push({ best: bestView(members), mask, order: cells.length });
  }

  // 3. Disjoint, best first; what lost most of itself was a duplicate, and takes nothing from the rest.
  // Stable: equal scores keep tile order, so the result does not depend on the sort's implementation.
  cells.sort((a, b) => b.best.instance.score - a.best.instance.score || a.order - b.order);
  // Unlike resolving all overlaps first and dropping afterwards, a dropped duplicate leaves its
  // pixels to the cells after it.
  const disjoint = resolveOverlaps(
    cells.map((cell) => cell.mask),
    { minKeptFraction: minRetainedFraction },
  );
  const stitched: StitchedInstance[] = [];
  cells.forEach((cell, i) => {
    const mask = disjoint[i];
    if (mask === null) return;
    const { cellType, score } = cell.best.instance;
    // The mask's own box: a cell merged across a seam, or trimmed by a neighbour, is not the box any one view had.
    stitched.push({ cellType, score, box: maskBox(mask), mask, area: maskArea(mask), tile: cell.best.tile.index });
  });
  return stitched;
}

/**
 * A tile-frame mask placed in the image's frame (same crop, shifted).
 *
 * @example
 * ```ts
 * const global = toImageFrame(decodeKaggleRle(rle, tile.width, tile.height), tile, grid);
 * ```
 */
export function toImageFrame(
  mask: BinaryMask,
  tile: Pick<Tile, "x" | "y">,
  image: { imageWidth: number; imageHeight: number },
): BinaryMask {
  return {
    ...mask,
    imageWidth: image.imageWidth,
    imageHeight: image.imageHeight,
    left: mask.left + tile.x,
    top: mask.top + tile.y,
  };
}

function collectViews(grid: TileGrid, results: readonly TileResult[]): View[] {
  const views: View[] = [];
  for (const { tile, instances } of results) {
    if (!sameTile(grid.tiles[tile.index], tile)) {
      throw new RangeError(`tile ${tile.index} is not a tile of this ${grid.imageWidth}x${grid.imageHeight} grid`);
    }
    for (const instance of instances) {
      const { mask } = instance;
      if (mask.imageWidth !== tile.width || mask.imageHeight !== tile.height) {
        throw new RangeError(
          `tile ${tile.index} is ${tile.width}x${tile.height} but an instance's mask is of a ` +
            `${mask.imageWidth}x${mask.imageHeight} image`,
        );
      }
      if (maskArea(mask) === 0) continue;
      const [x1, y1, x2, y2] = maskBox(mask);
      views.push({
        instance,
        tile,
        mask: toImageFrame(mask, tile, grid),
        box: [x1 + tile.x, y1 + tile.y, x2 + tile.x, y2 + tile.y],
        cut: touchesInnerEdge(grid, tile, [x1, y1, x2, y2]),
      });
    }
  }
  return views;
}

/** Whether a tight box (tile frame) reaches an edge of the tile that is not an edge of the image. */
function touchesInnerEdge(grid: TileGrid, tile: Tile, [x1, y1, x2, y2]: Box): boolean {
  return (
    (x1 === 0 && tile.x > 0) ||
    (y1 === 0 && tile.y > 0) ||
    (x2 === tile.width && tile.x + tile.width < grid.imageWidth) ||
    (y2 === tile.height && tile.y + tile.height < grid.imageHeight)
  );
}

/** IoU of two views over the rectangle both their tiles see (each mask lies inside its own tile). */
function seamIou(a: View, b: View): number {
  const shared: Box = [
    Math.max(a.tile.x, b.tile.x),
    Math.max(a.tile.y, b.tile.y),
    Math.min(a.tile.x + a.tile.width, b.tile.x + b.tile.width),
    Math.min(a.tile.y + a.tile.height, b.tile.y + b.tile.height),
  ];
  const intersection = maskIntersectionArea(a.mask, b.mask);
  if (intersection === 0) return 0;
  return intersection / (maskAreaWithin(a.mask, shared) + maskAreaWithin(b.mask, shared) - intersection);
}

/** The mask's pixels inside `[x1, x2) x [y1, y2)`. */
function maskAreaWithin(mask: BinaryMask, [x1, y1, x2, y2]: Box): number {
  let area = 0;
  for (let y = Math.max(y1, mask.top); y < Math.min(y2, mask.top + mask.height); y++) {
    const row = (y - mask.top) * mask.width - mask.left;
    for (let x = Math.max(x1, mask.left); x < Math.min(x2, mask.left + mask.width); x++)
      area += mask.data[row + x] ? 1 : 0;
  }
  return area;
}

function tileBox(tile: Tile): Box {
  return [tile.x, tile.y, tile.x + tile.width, tile.y + tile.height];
}

function boxesIntersect(a: Box, b: Box): boolean {
  return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
}

/** The view with the highest score; the first of equal ones, so that tile order breaks ties. */
function bestView(views: readonly View[]): View {
  return views.reduce((a, b) => (b.instance.score > a.instance.score ? b : a));
}

/** The union of two masks of the same image, cropped to both crops' bounds. */
function unionMasks(a: BinaryMask, b: BinaryMask): BinaryMask {
  const left = Math.min(a.left, b.left);
  const top = Math.min(a.top, b.top);
  const width = Math.max(a.left + a.width, b.left + b.width) - left;
  const height = Math.max(a.top + a.height, b.top + b.height) - top;
  const data = new Uint8Array(width * height);
  for (const mask of [a, b]) {
    for (let y = 0; y < mask.height; y++) {
      const target = (mask.top - top + y) * width + (mask.left - left);
      for (let x = 0; x < mask.width; x++) data[target + x] |= mask.data[y * mask.width + x];
    }
  }
  return { imageWidth: a.imageWidth, imageHeight: a.imageHeight, left, top, width, height, data };
}

function sameTile(a: Tile | undefined, b: Tile): boolean {
  return a !== undefined && a.x === b.x && a.y === b.y && a.width === b.width && a.height === b.height;
}
