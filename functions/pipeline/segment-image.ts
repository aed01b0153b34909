/**
 * One image through the model: decode, tile, invoke the endpoint per tile, stitch. Shared by the batch
 * pipeline (process-image.ts), which then renders and stores every result format, and by the API's
 * synchronous `POST /v1/segment`, which answers the instances at once.
 */
import { decodeImage } from "../../core/image/decode";
import { encodeKaggleRle } from "../../core/masks/kaggle-rle";
import type { ThresholdOverrides } from "../../core/schemas/endpoint";
import type { Profile } from "../../core/schemas/manifest";
import type { InstancesDocument } from "../../core/schemas/job-documents";
import { stitchTiles, type StitchedInstance } from "../../core/tiling/stitch";
import { tileGrid, type TilingOptions } from "../../core/tiling/tiles";
import { CELL_TYPES, type CellType, type GrayImage } from "../../core/types";
import type { InvokeOptions, SegmentationEndpoint } from "./endpoint/endpoint";
import { segmentTiles } from "./segment-tiles";

/** How one image is segmented. */
export interface SegmentImageOptions {
  readonly tiling: TilingOptions;
  /** Tiles of this image in flight at once. */
  readonly maxConcurrentTiles: number;
  /** Images with more pixels fail as too large (checked from the header, before decoding). */
  readonly maxPixels: number;
  /** The endpoint's default profile when left out. */
  readonly profile?: Profile;
  readonly thresholds?: ThresholdOverrides;
  readonly onRetry?: InvokeOptions["onRetry"];
}

/** Which image this is, as the results name it. */
export interface ImageIdentity {
  /** The Kaggle `id` and COCO `image_id`. */
  readonly imageId: string;
  /** The path the image was uploaded as. */
  readonly fileName: string;
}

/** Milliseconds per stage of {@link segmentImage}. */
export interface SegmentImageTimings {
  readonly decodeMs: number;
  /** Wall time of all tile invocations, retries and waits for a slot included. */
  readonly segmentMs: number;
  /** Sum over tiles of the endpoint's own inference time. */
  readonly inferenceMs: number;
  readonly stitchMs: number;
}

export interface SegmentedImage {
  readonly image: GrayImage;
  /** Disjoint, in descending score order. */
  readonly instances: StitchedInstance[];
  /** `instances.json`: the cells with their RLE masks over the whole image. */
  readonly document: InstancesDocument;
  readonly tiles: number;
  readonly cellsPerType: Partial<Record<CellType, number>>;
  readonly timings: SegmentImageTimings;
}

/**
 * @throws InvalidImageError, ImageTooLargeError for an image the decoder refuses.
 * @throws EndpointUnavailableError, EndpointRejectedError, EndpointProtocolError from the endpoint.
 * @example
 * ```ts
 * const { document, image } = await segmentImage(bytes, endpoint, { imageId: "a01", fileName: "a01.png" }, options);
 * console.log(document.instances.length, "cells in", image.width, "x", image.height);
 * ```
 */
export async function segmentImage(
  bytes: Uint8Array,
  endpoint: SegmentationEndpoint,
  identity: ImageIdentity,
  options: SegmentImageOptions,
): Promise<SegmentedImage> {
  const started = performance.now();
  const image = await decodeImage(bytes, { maxPixels: options.maxPixels });
  const decoded = performance.now();
  const grid = tileGrid(image.width, image.height, options.tiling);
  const { results, model, inferenceMs } = await segmentTiles(image, grid, endpoint, {
    concurrency: options.maxConcurrentTiles,
    ...(options.profile ? { profile: options.profile } : {}),
    ...(options.thresholds ? { thresholds: options.thresholds } : {}),
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
  });
  const segmented = performance.now();
  const instances = stitchTiles(grid, results);
  const document: InstancesDocument = {
    schemaVersion: 1,
    imageId: identity.imageId,
    fileName: identity.fileName,
    width: image.width,
    height: image.height,
    ...model,
    cellType: majorityCellType(instances),
    instances: instances.map((instance, i) => ({
      id: i + 1,
      cellType: instance.cellType,
      score: instance.score,
      box: [instance.box[0], instance.box[1], instance.box[2], instance.box[3]],
      area: instance.area,
      rle: encodeKaggleRle(instance.mask),
      tile: instance.tile,
    })),
  };
  const stitched = performance.now();
  return {
    image,
    instances,
    document,
    tiles: grid.tiles.length,
    cellsPerType: countPerType(instances),
    timings: {
      decodeMs: decoded - started,
      segmentMs: segmented - decoded,
      inferenceMs,
      stitchMs: stitched - segmented,
    },
  };
}

function countPerType(instances: readonly StitchedInstance[]): Partial<Record<CellType, number>> {
  const counts: Partial<Record<CellType, number>> = {};
  for (const { cellType } of instances) counts[cellType] = (counts[cellType] ?? 0) + 1;
  return counts;
}

/**
 * The image's cell type: the one most instances have (ties go to the earlier in CELL_TYPES). Each tile
 * votes its own type, so a large image's tiles may disagree; the instances keep their tile's type.
 */
function majorityCellType(instances: readonly StitchedInstance[]): CellType | null {
  const counts = countPerType(instances);
  let best: CellType | null = null;
  for (const type of CELL_TYPES)
    if ((counts[type] ?? 0) > 0 && (best === null || counts[type]! > counts[best]!)) best = type;
  return best;
}
