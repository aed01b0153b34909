/**
 * Cell outlines as GeoJSON (`<id>.geojson`): one Feature per cell, its Polygon (a MultiPolygon when the
 * mask has pieces that touch only at a corner), holes kept, in pixel coordinates where pixel (x, y) is the
 * square from (x, y) to (x + 1, y + 1), QuPath's convention. The properties make QuPath import the
 * features as classified detections (`objectType`, `classification`), and carry `cell_id` (the cell's
 * value in the label image and in `measurements.csv`), `cell_type` and `score`.
 */
import type { MultiPolygon, Polygon, Position } from "geojson";
import type { CellType, Instance } from "../types";
import { ScratchArray } from "../scratch-array";
import { CELL_TYPE_COLOURS } from "./cell-type-colours";

export interface OutlineFeature {
  readonly type: "Feature";
  readonly geometry: Polygon | MultiPolygon;
  readonly properties: {
    readonly objectType: "detection";
    readonly classification: { readonly name: CellType; readonly color: readonly [number, number, number] };
    readonly cell_id: number;
    readonly cell_type: CellType;
    readonly score: number;
  };
}

export interface OutlinesDocument {
  readonly type: "FeatureCollection";
  readonly features: OutlineFeature[];
}

/**
 * The outline of each cell of `labels` (see labelMap): the pixel boundary between the cell and the rest,
 * every vertex a pixel corner, so that a polygon's area (holes subtracted) is the cell's pixel count.
 *
 * @example
 * ```ts
 * const labels = labelMap(instances, 704, 520);
 * await writeFile("A01.geojson", JSON.stringify(outlinesGeoJson(labels, 704, instances)));
 * ```
 */
export function outlinesGeoJson(labels: Uint16Array, width: number, instances: readonly Instance[]): OutlinesDocument {
  const features: OutlineFeature[] = [];
  instances.forEach((instance, index) => {
    const cellId = index + 1;
    const geometry = cellOutline(labels, width, instance, cellId);
    if (geometry === undefined) return;
    features.push({
      type: "Feature",
      geometry,
      properties: {
        objectType: "detection",
        classification: { name: instance.cellType, color: CELL_TYPE_COLOURS[instance.cellType] },
        cell_id: cellId,
        cell_type: instance.cellType,
        score: instance.score,
      },
    });
  });
  return { type: "FeatureCollection", features };
}

/** The cell's crop with an empty margin, the +x edges walked, the pieces' numbers, the flood fill's stack. */
const INSIDE = new ScratchArray((length) => new Uint8Array(length));
const TRACED = new ScratchArray((length) => new Uint8Array(length));
const COMPONENTS = new ScratchArray((length) => new Int32Array(length));
const STACK = new ScratchArray((length) => new Int32Array(length));

/**
 * The cell's pixel boundary, traced along the pixel edges that part it from the rest. Directions 0..3 are
 * +x, +y, -x, -y; every edge is walked with the cell's pixel on its left (in x, y as written, y up as RFC
 * 7946 reads them), so exterior rings come out counterclockwise and holes clockwise. Where two of the
 * cell's pixels touch only at a corner the walk turns to stay with the pixel it follows: pieces joined only
 * there are separate polygons, and the background on both sides of such a corner is one.
 */
function cellOutline(labels: Uint16Array, width: number, instance: Instance, cellId: number): Polygon | MultiPolygon | undefined {
  const { left, top, width: cropWidth, height: cropHeight } = instance.mask;
  // A margin of one empty pixel keeps every neighbour lookup inside the grid.
  const gridWidth = cropWidth + 2;
  const size = gridWidth * (cropHeight + 2);
  const inside = INSIDE.cleared(size);
  let area = 0;
  for (let y = 0; y < cropHeight; y++) {
    const row = (top + y) * width + left;
    const target = (y + 1) * gridWidth + 1;
    for (let x = 0; x < cropWidth; x++) {
      if (labels[row + x] !== cellId) continue;
      inside[target + x] = 1;
      area++;
    }
  }
  if (area === 0) return undefined;
  const traced = TRACED.cleared(size);
  const step = [1, gridWidth, -1, -gridWidth];
  const exteriors: { ring: Position[]; start: number }[] = [];
  const holes: { ring: Position[]; start: number }[] = [];
  // Every ring has edges walked in +x (a pixel's side towards -y, with the rest beyond it), marked in traced
  // as they are walked: the first of a ring not yet walked starts it.
  for (let start = gridWidth; start < size - gridWidth; start++) {
    if (!inside[start] || inside[start - gridWidth] || traced[start]) continue;
    const ring: Position[] = [];
    let pixel = start;
    let direction = 0;
    do {
      if (direction === 0) traced[pixel] = 1;
      const aheadLeft = pixel + step[direction]!;
      const aheadRight = aheadLeft + step[(direction + 3) & 3]!;
      let next = direction;
      if (!inside[aheadLeft]) next = (direction + 1) & 3;
      else if (inside[aheadRight]) next = (direction + 3) & 3;
      pixel = next === direction ? aheadLeft : next === ((direction + 1) & 3) ? pixel : aheadRight;
      if (next !== direction) {
        // The corner where the walk turns: the start of the next edge, a corner of its left pixel.
        const x = (pixel % gridWidth) + (next === 1 || next === 2 ? 1 : 0);
        const y = Math.floor(pixel / gridWidth) + (next === 2 || next === 3 ? 1 : 0);
        ring.push([x + left - 1, y + top - 1]);
      }
      direction = next;
    } while (pixel !== start || direction !== 0);
    ring.push(ring[0]!);
    (twiceShoelaceArea(ring) > 0 ? exteriors : holes).push({ ring, start });
  }
  if (exteriors.length === 1) {
    const polygon = [exteriors[0]!.ring, ...holes.map((hole) => hole.ring)];
    return { type: "Polygon", coordinates: polygon };
  }
  // Pieces joined at most at a corner: each hole goes with the piece on its left.
  const components = fourConnectedComponents(inside, gridWidth, size);
  const byComponent = new Map(exteriors.map(({ ring, start }) => [components[start]!, [ring]]));
  for (const { ring, start } of holes) byComponent.get(components[start]!)!.push(ring);
  return { type: "MultiPolygon", coordinates: [...byComponent.values()] };
}

/** The pieces of the cell (4-connected, as the walk keeps them apart), numbered from 1 in scan order; 0 outside. */
function fourConnectedComponents(inside: Uint8Array, gridWidth: number, size: number): Int32Array {
  const components = COMPONENTS.cleared(size);
  const stack = STACK.atLeast(size);
  let count = 0;
  for (let seed = gridWidth; seed < size - gridWidth; seed++) {
    if (!inside[seed] || components[seed]) continue;
    components[seed] = ++count;
    let depth = 0;
    stack[depth++] = seed;
    while (depth > 0) {
      const pixel = stack[--depth]!;
      for (let side = 0; side < 4; side++) {
        const neighbour = pixel + (side === 0 ? -1 : side === 1 ? 1 : side === 2 ? -gridWidth : gridWidth);
        if (!inside[neighbour] || components[neighbour]) continue;
        components[neighbour] = count;
        stack[depth++] = neighbour;
      }
    }
  }
  return components;
}

/** Twice the shoelace area of a closed ring: positive when it runs counterclockwise (y up). */
function twiceShoelaceArea(ring: Position[]): number {
  let twiceArea = 0;
  for (let i = 0; i < ring.length - 1; i++) twiceArea += ring[i]![0]! * ring[i + 1]![1]! - ring[i + 1]![0]! * ring[i]![1]!;
  return twiceArea;
}
