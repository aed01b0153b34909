/**
 * Turns a decoded image into the model's input tensor. This is the runtime twin of `model_input` in
 * `training/cellseg_train/normalize.py` (numpy 'linear' percentiles, torch bilinear
 * resize with align_corners=False, standardisation, zero padding) and must stay in step with it: the
 * model only ever saw inputs made that way.
 */
import { InvalidImageError } from "../errors";
import type { InputNormalization } from "../schemas/manifest";
import type { GrayImage } from "../types";

/** How the model's input is made from an image: the manifest's `input` (core/schemas/manifest.ts). */
export type { InputNormalization };

/** The model's input: 3 identical channels, the scaled image at the top left, zeros to the right and below. */
export interface ModelInput {
  /** [3, paddedHeight, paddedWidth], channel-major (CHW). */
  readonly data: Float32Array;
  readonly paddedHeight: number;
  readonly paddedWidth: number;
  /** Size of the scaled image inside the padding. */
  readonly scaledHeight: number;
  readonly scaledWidth: number;
  /** The configured scale; model outputs are divided by it, as in training. */
  readonly scale: number;
}

export type FlipAxis = "horizontal" | "vertical";

const CHANNELS = 3;

/**
 * numpy's `np.percentile(values, qs)` with the default 'linear' method, computed from a histogram of the
 * 8- or 16-bit levels instead of a sort.
 *
 * @example
 * ```ts
 * percentiles({ width: 4, height: 1, bitDepth: 8, pixels: Uint8Array.of(1, 2, 3, 4) }, [50]); // [2.5]
 * ```
 */
export function percentiles(image: GrayImage, qs: readonly number[]): number[] {
  const { pixels } = image;
  const histogram = new Uint32Array(pixels instanceof Uint16Array ? 65536 : 256);
  for (let i = 0; i < pixels.length; i++) histogram[pixels[i]]++;
  const last = pixels.length - 1;
  return qs.map((q) => {
    const virtual = last * (q / 100);
    if (virtual >= last) return sortedValue(histogram, last);
    const previous = Math.floor(virtual);
    const gamma = virtual - previous;
    const below = sortedValue(histogram, previous);
    const above = sortedValue(histogram, previous + 1);
    // numpy's _lerp interpolates from the nearer end, which rounds differently for gamma >= 0.5.
    return gamma >= 0.5 ? above - (above - below) * (1 - gamma) : below + (above - below) * gamma;
  });
}

/** The value at `rank` (0-based) of the sorted pixels. */
function sortedValue(histogram: Uint32Array, rank: number): number {
  let seen = 0;
  for (let level = 0; ; level++) {
    seen += histogram[level];
    if (seen > rank) return level;
  }
}

/**
 * Lookup table from each pixel level to training's `percentile_normalize` value: the image's own
 * percentiles stretched to [0, 1] and clipped. Arithmetic is float32 where numpy's is.
 *
 * @example
 * ```ts
 * const lut = percentileLut(image, 0.5, 99.5);
 * const unit = lut[image.pixels[0]]; // in [0, 1]
 * ```
 */
export function percentileLut(image: GrayImage, percentileLow: number, percentileHigh: number): Float32Array {
  const [low, high] = percentiles(image, [percentileLow, percentileHigh]);
  // numpy subtracts the float64 percentile from a float32 array, and divides by the span, in float32.
  const low32 = Math.fround(low);
  const span32 = Math.fround(Math.max(high - low, 1));
  const lut = new Float32Array(image.pixels instanceof Uint16Array ? 65536 : 256);
  for (let level = 0; level < lut.length; level++) {
    lut[level] = Math.min(Math.max(Math.fround(level - low32) / span32, 0), 1);
  }
  return lut;
}

/**
 * Makes the model's input from an image: percentile stretch, bilinear resize by `norm.scale`,
 * standardisation by `norm.mean` and `norm.std`, 3 channels, zero padding to multiples of
 * `norm.sizeDivisor`. Matches the PyTorch reference to float32 rounding (about 2e-6: torch sums the
 * bilinear taps in another order).
 *
 * @throws InvalidImageError when the image is too small to scale to at least one pixel.
 * @example
 * ```ts
 * const input = modelInput(image, {
 *   percentileLow: 0.5,
 *   percentileHigh: 99.5,
 *   mean: 0.5,
 *   std: 0.25,
 *   scale: 1.5,
 *   sizeDivisor: 32,
 * });
 * const tensor = new ort.Tensor("float32", input.data, [1, 3, input.paddedHeight, input.paddedWidth]);
 * ```
 */
export function modelInput(image: GrayImage, norm: InputNormalization): ModelInput {
  const { width, height, pixels } = image;
  const scaledHeight = roundHalfEven(height * norm.scale);
  const scaledWidth = roundHalfEven(width * norm.scale);
  if (scaledHeight < 1 || scaledWidth < 1) {
    throw new InvalidImageError(`Image ${width}x${height} is too small to scale by ${norm.scale}`);
  }
  const paddedHeight = Math.ceil(scaledHeight / norm.sizeDivisor) * norm.sizeDivisor;
  const paddedWidth = Math.ceil(scaledWidth / norm.sizeDivisor) * norm.sizeDivisor;

  // Looked up per tap rather than stored as a float image: one allocation less, as fast.
  const unit = percentileLut(image, norm.percentileLow, norm.percentileHigh);
  const rows = bilinearTaps(height, scaledHeight);
  const columns = bilinearTaps(width, scaledWidth);
  const { mean, std } = norm;
  const plane = paddedHeight * paddedWidth;
  const data = new Float32Array(CHANNELS * plane);
  for (let y = 0; y < scaledHeight; y++) {
    const top = rows.index0[y] * width;
    const bottom = rows.index1[y] * width;
    const topWeight = rows.weight0[y];
    const bottomWeight = rows.weight1[y];
    const out = y * paddedWidth;
    for (let x = 0; x < scaledWidth; x++) {
      const left = columns.index0[x];
      const right = columns.index1[x];
      const leftWeight = columns.weight0[x];
      const rightWeight = columns.weight1[x];
      const upper = unit[pixels[top + left]] * leftWeight + unit[pixels[top + right]] * rightWeight;
      const lower = unit[pixels[bottom + left]] * leftWeight + unit[pixels[bottom + right]] * rightWeight;
      data[out + x] = (upper * topWeight + lower * bottomWeight - mean) / std;
    }
  }
  for (let channel = 1; channel < CHANNELS; channel++) data.copyWithin(channel * plane, 0, plane);
  return { data, paddedHeight, paddedWidth, scaledHeight, scaledWidth, scale: norm.scale };
}

/**
 * The model input of the mirrored image, for test-time augmentation: the scaled region is flipped and
 * the zero padding stays at the right and bottom, as if the flipped image had been through
 * {@link modelInput} (align_corners=False resizing is symmetric, up to float32 rounding).
 *
 * @example
 * ```ts
 * const mirrored = flipModelInput(modelInput(image, norm), "horizontal");
 * ```
 */
export function flipModelInput(input: ModelInput, axis: FlipAxis): ModelInput {
  const { data, paddedHeight, paddedWidth, scaledHeight, scaledWidth } = input;
  const flipped = new Float32Array(data.length);
  for (let plane = 0; plane < data.length; plane += paddedHeight * paddedWidth) {
    for (let y = 0; y < scaledHeight; y++) {
      const target = plane + y * paddedWidth;
      const source = axis === "vertical" ? plane + (scaledHeight - 1 - y) * paddedWidth : target;
      flipped.set(data.subarray(source, source + scaledWidth), target);
      if (axis === "horizontal") flipped.subarray(target, target + scaledWidth).reverse();
    }
  }
  return { ...input, data: flipped };
}

/** Python 3's round(): halves go to the even neighbour (round(12.5) == 12). */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  return fraction > 0.5 || (fraction === 0.5 && floor % 2 !== 0) ? floor + 1 : floor;
}

/** For each output index along one axis: the two source indices and their weights. */
interface Taps {
  readonly index0: Int32Array;
  readonly index1: Int32Array;
  readonly weight0: Float32Array;
  readonly weight1: Float32Array;
}

/**
 * torch's `compute_source_index_and_lambda` for align_corners=False with an explicit output size, in
 * float32 as torch computes it: source = (dst + 0.5) * in / out - 0.5, clamped below at 0; the upper
 * neighbour is clamped to the last index.
 */
function bilinearTaps(inSize: number, outSize: number): Taps {
  const ratio = Math.fround(inSize / outSize);
  const taps = {
    index0: new Int32Array(outSize),
    index1: new Int32Array(outSize),
    weight0: new Float32Array(outSize),
    weight1: new Float32Array(outSize),
  };
  for (let dst = 0; dst < outSize; dst++) {
    const source = Math.max(Math.fround(Math.fround(ratio * (dst + 0.5)) - 0.5), 0);
    const index = Math.floor(source);
    taps.index0[dst] = index;
    taps.index1[dst] = index < inSize - 1 ? index + 1 : index;
    taps.weight1[dst] = source - index;
    taps.weight0[dst] = 1 - taps.weight1[dst];
  }
  return taps;
}
