/**
 * Segments an image tile by tile through the endpoint: crop, encode (lossless PNG, 16 bits kept), invoke
 * with bounded concurrency, and check each answer before stitching trusts it.
 */
import pLimit from "p-limit";
import sharp from "sharp";
import { decodeKaggleRle } from "../../core/masks/kaggle-rle";
import { FAST_PNG } from "../../core/outputs/png-options";
import type { InvocationResponse, ThresholdOverrides } from "../../core/schemas/endpoint";
import type { Profile } from "../../core/schemas/manifest";
import type { TileInstance, TileResult } from "../../core/tiling/stitch";
import { cropImage, type Tile, type TileGrid } from "../../core/tiling/tiles";
import type { GrayImage } from "../../core/types";
import type { InvokeOptions, SegmentationEndpoint } from "./endpoint/endpoint";
import { EndpointProtocolError } from "./endpoint/errors";

export interface SegmentTilesOptions {
  /** Tiles of this image in flight at once (the endpoint may bound all images together further). */
  readonly concurrency: number;
  readonly profile?: Profile;
  readonly thresholds?: ThresholdOverrides;
  readonly onRetry?: InvokeOptions["onRetry"];
}

/** The model that answered, the same for every tile. */
export interface ServedModel {
  readonly modelVersion: string;
  readonly manifestSha256: string;
  readonly profile: Profile;
}

export interface SegmentedTiles {
  readonly results: TileResult[];
  readonly model: ServedModel;
  /** Sum of the endpoint's inference time over the tiles. */
  readonly inferenceMs: number;
}

/**
 * Lossless PNG of a gray image: 8-bit stays 8-bit, 16-bit stays 16-bit (the model's percentile
 * normalisation wants the full range).
 *
 * @example
 * ```ts
 * const png = await grayPng(cropImage(image, tile));
 * ```
 */
export async function grayPng(image: GrayImage): Promise<Buffer> {
  const { width, height, pixels } = image;
  return sharp(pixels, { raw: { width, height, channels: 1 } })
    .toColourspace(image.bitDepth === 16 ? "grey16" : "b-w")
    .png(FAST_PNG)
    .toBuffer();
}

/**
 * Sends every tile of `grid` to the endpoint; the first failure cancels the tiles still waiting and is
 * thrown.
 *
 * @throws EndpointUnavailableError, EndpointRejectedError from the endpoint.
 * @throws EndpointProtocolError when an answer does not fit its tile or the model changes between tiles.
 * @example
 * ```ts
 * const grid = tileGrid(image.width, image.height, DEFAULT_TILING);
 * const { results, model } = await segmentTiles(image, grid, endpoint, { concurrency: 4 });
 * const instances = stitchTiles(grid, results);
 * ```
 */
export async function segmentTiles(
  image: GrayImage,
  grid: TileGrid,
  endpoint: SegmentationEndpoint,
  options: SegmentTilesOptions,
): Promise<SegmentedTiles> {
  const limit = pLimit(options.concurrency);
  const cancel = new AbortController();
  const segmentOne = async (tile: Tile): Promise<{ result: TileResult; response: InvocationResponse }> => {
    cancel.signal.throwIfAborted();
    const png = await grayPng(cropImage(image, tile));
    const response = await endpoint.invoke(
      {
        image: png,
        tileOrigin: { x: tile.x, y: tile.y },
        ...(options.profile ? { profile: options.profile } : {}),
        ...(options.thresholds ? { thresholds: options.thresholds } : {}),
      },
      { signal: cancel.signal, ...(options.onRetry ? { onRetry: options.onRetry } : {}) },
    );
    return { result: { tile, instances: tileInstances(tile, response) }, response };
  };
  let answers: { result: TileResult; response: InvocationResponse }[];
  try {
    answers = await Promise.all(grid.tiles.map((tile) => limit(() => segmentOne(tile))));
  } catch (error) {
    cancel.abort(new Error("another tile of the image failed"));
    limit.clearQueue();
    throw error;
  }
  const [first] = answers.map((a) => a.response);
  const model: ServedModel = {
    modelVersion: first.modelVersion,
    manifestSha256: first.manifestSha256,
    profile: first.profile,
  };
  const changed = answers.find(
    ({ response }) => response.manifestSha256 !== model.manifestSha256 || response.profile !== model.profile,
  );
  if (changed) {
    // A deployment in the middle of the job: stitching two models' cells would mix their thresholds.
    throw new EndpointProtocolError(
      `the model changed during the job (manifest ${model.manifestSha256.slice(0, 12)}/${model.profile}, ` +
        `then ${changed.response.manifestSha256.slice(0, 12)}/${changed.response.profile})`,
    );
  }
  return {
    results: answers.map((a) => a.result),
    model,
    inferenceMs: answers.reduce((sum, a) => sum + a.response.timings.inferenceMs, 0),
  };
}

/** The answer's instances as masks of the tile, after checking that the answer is about this tile. */
function tileInstances(tile: Tile, response: InvocationResponse): TileInstance[] {
  if (response.width !== tile.width || response.height !== tile.height) {
    throw new EndpointProtocolError(
      `tile ${tile.index} is ${tile.width}x${tile.height} but the endpoint answered for ` +
        `${response.width}x${response.height}`,
    );
  }
  if (response.tileOrigin !== undefined && (response.tileOrigin.x !== tile.x || response.tileOrigin.y !== tile.y)) {
    throw new EndpointProtocolError(
      `tile ${tile.index} is at (${tile.x}, ${tile.y}) but the answer is for (${response.tileOrigin.x}, ` +
        `${response.tileOrigin.y})`,
    );
  }
  return response.instances.map((instance, i) => {
    try {
      return {
        cellType: instance.cellType,
        score: instance.score,
        box: instance.box,
        mask: decodeKaggleRle(instance.rle, tile.width, tile.height),
      };
    } catch (error) {
      throw new EndpointProtocolError(`instance ${i} of tile ${tile.index}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  });
}
