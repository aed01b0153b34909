/**
 * Cell outlines as GeoJSON (`<id>.geojson`): one Feature per cell, its Polygon (a MultiPolygon when the
 * mask has pieces that touch only at a corner), holes kept, in pixel coordinates where pixel (x, y) is the
 * square from (x, y) to (x + 1, y + 1), QuPath's convention. The properties make QuPath import the
 * features as classified detections (`objectType`, `classification`), and carry `cell_id` (the cell's
 * value in the label image and in `measurements.csv`), `cell_type` and `score`.
 */
import { contours } from "d3-contour";
import type { MultiPolygon, Polygon, Position } from "geojson";
import type { CellType, Instance } from "../types";
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

/** Marching squares between a cell's pixels (1) and the rest (0). */
const OUTLINE = contours().thresholds([0.5]).smooth(false);

function cellOutline(
  labels: Uint16Array,
  width: number,
  instance: Instance,
  cellId: number,
): Polygon | MultiPolygon | undefined {
  const { left, top, width: cropWidth, height: cropHeight } = instance.mask;
  // A margin of one empty pixel closes every outline inside the grid.
  const gridWidth = cropWidth + 2;
  const gridHeight = cropHeight + 2;
  const values = new Float64Array(gridWidth * gridHeight);
  let area = 0;
  for (let y = 0; y < cropHeight; y++) {
    for (let x = 0; x < cropWidth; x++) {
      if (labels[(top + y) * width + left + x] !== cellId) continue;
      values[(y + 1) * gridWidth + x + 1] = 1;
      area++;
    }
  }
  if (area === 0) return undefined;
  // Unsmoothed: the vertices stay on the pixel edges' midpoints, which pixelCorners relies on. d3 only
  // indexes the values, so the typed array goes in without a copy.
  const [contour] = OUTLINE.size([gridWidth, gridHeight])(values as unknown as number[]);
  const shift = (point: Position): Position => [point[0]! + left - 1, point[1]! + top - 1];
  const polygons = contour!.coordinates.map((polygon) =>
    polygon.map((ring, index) => rightHandRule(pixelCorners(ring).map(shift), index === 0)),
  );
  return polygons.length === 1
    ? { type: "Polygon", coordinates: polygons[0]! }
    : { type: "MultiPolygon", coordinates: polygons };
}

/**
 * Marching squares (d3-contour) puts its vertices on the midpoints of the pixel edges that part the cell
 * from the rest and cuts every corner between them by half a pixel (losing 1/8 pixel per corner, most of a
 * one-pixel fragment). A diagonal step always joins the midpoint of a vertical edge (integer x) to that of
 * a horizontal one (integer y); the pixel corner they share, (that x, that y), is put back, and the
 * midpoints, now inside straight edges, are dropped. The ring stays closed.
 */
function pixelCorners(ring: Position[]): Position[] {
  const open = ring.slice(0, -1);
  const traced: Position[] = [];
  open.forEach((point, i) => {
    const next = open[(i + 1) % open.length]!;
    traced.push(point);
    if (point[0] !== next[0] && point[1] !== next[1]) {
      traced.push(Number.isInteger(point[0]) ? [point[0]!, next[1]!] : [next[0]!, point[1]!]);
    }
  });
  const corners = traced.filter((point, i) => {
    const previous = traced[(i + traced.length - 1) % traced.length]!;
    const next = traced[(i + 1) % traced.length]!;
    return !((previous[0] === point[0] && point[0] === next[0]) || (previous[1] === point[1] && point[1] === next[1]));
  });
  return [...corners, corners[0]!];
}

/**
 * RFC 7946's winding, read in the coordinates' own plane (x, y as written; counterclockwise when y points
 * up): the exterior ring has a positive shoelace area, holes a negative one.
 */
function rightHandRule(ring: Position[], exterior: boolean): Position[] {
  let twiceArea = 0;
  for (let i = 0; i < ring.length - 1; i++)
    twiceArea += ring[i]![0]! * ring[i + 1]![1]! - ring[i + 1]![0]! * ring[i]![1]!;
  return twiceArea > 0 === exterior ? ring : [...ring].reverse();
}
