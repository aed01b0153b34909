/**
 * Domain types shared by the CLI, the model server and the pipeline. Nothing here knows of AWS, HTTP or
 * onnxruntime.
 */

/** The cell types, in the model's 1-based class-id order. */
export const CELL_TYPES = ["shsy5y", "astro", "cort"] as const;
export type CellType = (typeof CELL_TYPES)[number];

/** A decoded single-channel image; 16-bit sources keep their full range. */
export interface GrayImage {
  readonly width: number;
  readonly height: number;
  readonly bitDepth: 8 | 16;
  /** Row-major, one value per pixel. */
  readonly pixels: Uint8Array | Uint16Array;
  /** Micrometres per pixel, when the file states it (a TIFF's resolution tags); never guessed. */
  readonly pixelSizeUm?: number;
}

/** Axis-aligned box in pixels: x1, y1 inclusive; x2, y2 exclusive. */
export type Box = readonly [x1: number, y1: number, x2: number, y2: number];

/**
 * A binary mask stored as its bounding crop inside an image of `imageWidth` x `imageHeight`.
 * `data[(y - top) * width + (x - left)]` is 1 where pixel (x, y) belongs to the mask.
 */
export interface BinaryMask {
  readonly imageWidth: number;
  readonly imageHeight: number;
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** One segmented cell, after post-processing: its mask overlaps no other instance of the image. */
export interface Instance {
  readonly cellType: CellType;
  readonly score: number;
  readonly box: Box;
  readonly mask: BinaryMask;
  readonly area: number;
}

/** What the model (or an ensemble of models) found in one image, before post-processing. */
export interface Detections {
  /** [N, 4] x1, y1, x2, y2 in the original image's pixels. */
  readonly boxes: Float32Array;
  readonly scores: Float32Array;
  /** 1-based class ids, see CELL_TYPES. */
  readonly labels: Int32Array;
  /** [N, M, M] mask probabilities in the box frame. */
  readonly masks: Float32Array;
  readonly maskSize: number;
}
