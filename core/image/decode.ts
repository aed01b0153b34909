/**
 * Decodes untrusted image bytes (PNG, TIFF, JPEG) into single-channel {@link GrayImage}s. Every failure
 * caused by the bytes is an {@link InvalidImageError} or an {@link ImageTooLargeError}, never a raw sharp
 * error, so the HTTP and CLI edges can map it to a message the user can act on.
 */
import sharp, { type Metadata, type Sharp } from "sharp";
import { ImageTooLargeError, InvalidImageError } from "../errors";
import type { GrayImage } from "../types";

/** Default bound on decoded pixels (all pages together): 50 megapixels, about 100 MB at 16 bits. */
export const DEFAULT_MAX_PIXELS = 50_000_000;

/**
 * Leading bytes of each accepted format. Sniffing them ourselves keeps every other format sharp could
 * parse (GIF, SVG, PDF, HEIF, ...) away from its decoders.
 */
const SIGNATURES = {
  png: [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  jpeg: [[0xff, 0xd8, 0xff]],
  // Classic TIFF (42) and BigTIFF (43), little- and big-endian.
  tiff: [
    [0x49, 0x49, 0x2a, 0x00],
    [0x4d, 0x4d, 0x00, 0x2a],
    [0x49, 0x49, 0x2b, 0x00],
    [0x4d, 0x4d, 0x00, 0x2b],
  ],
} as const;

type ImageFormat = keyof typeof SIGNATURES;

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /**
   * Refuse images with more pixels than this (checked from the header, before decoding). @default DEFAULT_MAX_PIXELS
   */
  readonly maxPixels?: number;
  /** Zero-based page of a multi-page TIFF; other formats have only page 0. @default 0 */
  readonly page?: number;
}

/** What the header tells us about one page. */
interface PageHeader {
  readonly width: number;
  readonly height: number;
  readonly pages: number;
  readonly bitDepth: 8 | 16;
  readonly gray: boolean;
  readonly pixelSizeUm?: number;
}

/**
 * The coarsest resolution read as a calibration: 600 dots per inch (a 42 um pixel). Software that knows
 * nothing of the optics writes 72, 96 or 300 dpi (screen and print defaults); a microscope's pixels are a
 * few micrometres at most, so such a tag says nothing about the sample and is ignored, never guessed from.
 */
const MIN_CALIBRATED_DPI = 600;

/**
 * The pixel size a TIFF's resolution tags state (XResolution with ResolutionUnit inch or cm; sharp reports
 * the density in whole dots per inch either way, which keeps a microscope's pixel size to 1 part in 10^4),
 * or undefined when they state none.
 */
function tiffPixelSizeUm(format: ImageFormat, metadata: Metadata): number | undefined {
  const { density, resolutionUnit } = metadata;
  if (format !== "tiff" || density === undefined || !(resolutionUnit === "inch" || resolutionUnit === "cm"))
    return undefined;
  if (!Number.isFinite(density) || density < MIN_CALIBRATED_DPI) return undefined;
  return 25_400 / density;
}

/**
 * Decodes one page of a PNG, TIFF or JPEG image to a single channel. A multi-page TIFF yields its FIRST
 * page unless `options.page` says otherwise; see {@link decodeImagePages} for all pages. Colour is
 * reduced to luminance with PIL's `convert("L")` weights (the training loader's), alpha is dropped, and
 * 16-bit sources keep 16 bits.
 *
 * @throws InvalidImageError when the bytes are empty, corrupt, truncated, of another format, 0-sized,
 *   not 8- or 16-bit, or lack the requested page.
 * @throws ImageTooLargeError when width x height exceeds `options.maxPixels`.
 * @example
 * ```ts
 * const image = await decodeImage(await readFile("cells.png"));
 * console.log(image.width, image.height, image.bitDepth);
 * ```
 */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<GrayImage> {
  const { maxPixels = DEFAULT_MAX_PIXELS, page = 0 } = options;
  checkLimitArgument(maxPixels);
  if (!Number.isInteger(page) || page < 0) throw new RangeError(`page must be a non-negative integer, got ${page}`);
  const format = sniffFormat(bytes);
  const header = await readHeader(bytes, format, page);
  if (page >= header.pages) {
    throw new InvalidImageError(`Page ${page} was requested but the ${format} image has ${header.pages} page(s)`);
  }
  const pixels = header.width * header.height;
  checkPixelCount(`Image is ${header.width}x${header.height} (${pixels} pixels)`, pixels, maxPixels);
  return decodePage(bytes, format, page, header, maxPixels);
}

/**
 * Decodes every page of a multi-page TIFF (a single-page image gives one element), each as
 * {@link decodeImage} would. `maxPixels` bounds the pixels of all pages together.
 *
 * @throws InvalidImageError as {@link decodeImage}, for any page.
 * @throws ImageTooLargeError when the pages hold more than `options.maxPixels` pixels in all.
 * @example
 * ```ts
 * const stack = await decodeImagePages(await readFile("timelapse.tif"));
 * console.log(`${stack.length} frames`);
 * ```
 */
export async function decodeImagePages(
  bytes: Uint8Array,
  options: Pick<DecodeOptions, "maxPixels"> = {},
): Promise<GrayImage[]> {
  const { maxPixels = DEFAULT_MAX_PIXELS } = options;
  checkLimitArgument(maxPixels);
  const format = sniffFormat(bytes);
  // Pages may differ in size and depth, so each is read on its own rather than as one tall strip. The
  // running total stops a file of many large pages before all its headers are read.
  const headers: PageHeader[] = [];
  let total = 0;
  do {
    const header = await readHeader(bytes, format, headers.length);
    headers.push(header);
    total += header.width * header.height;
    checkPixelCount(`The image's first ${headers.length} page(s) hold ${total} pixels`, total, maxPixels);
  } while (headers.length < headers[0].pages);
  const images: GrayImage[] = [];
  for (const [page, header] of headers.entries()) images.push(await decodePage(bytes, format, page, header, maxPixels));
  return images;
}

function checkLimitArgument(maxPixels: number): void {
  if (!Number.isInteger(maxPixels) || maxPixels < 1) {
    throw new RangeError(`maxPixels must be a positive integer, got ${maxPixels}`);
  }
}

function checkPixelCount(description: string, pixels: number, maxPixels: number): void {
  if (pixels > maxPixels) {
    throw new ImageTooLargeError(`${description}, over the limit of ${maxPixels} pixels`);
  }
}

function sniffFormat(bytes: Uint8Array): ImageFormat {
  if (bytes.length === 0) throw new InvalidImageError("The image is empty (0 bytes)");
  for (const [format, signatures] of Object.entries(SIGNATURES) as [ImageFormat, readonly (readonly number[])[]][]) {
    if (signatures.some((signature) => signature.every((byte, i) => bytes[i] === byte))) return format;
  }
  throw new InvalidImageError("Unsupported image format: expected PNG, TIFF or JPEG");
}

/** Runs a sharp call on untrusted bytes, turning any failure into an InvalidImageError. */
async function withSharp<T>(format: ImageFormat, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidImageError(`Cannot read the ${format.toUpperCase()} image: ${reason}`, { cause: error });
  }
}

/**
 * `failOn: 'warning'` (sharp's strictest level) is spelled out because the laxer 'truncated' and 'error'
 * both decode a TIFF cut short in its last strip.
 */
function open(bytes: Uint8Array, page: number, limitInputPixels: number | false): Sharp {
  return sharp(bytes, { failOn: "warning", page, limitInputPixels });
}

async function readHeader(bytes: Uint8Array, format: ImageFormat, page: number): Promise<PageHeader> {
  // No pixel limit here: reading the header decodes nothing, and our own check gives the better message.
  const metadata: Metadata = await withSharp(format, () => open(bytes, page, false).metadata());
  const { width, height, depth, channels, hasAlpha } = metadata;
  if (!(width > 0 && height > 0)) throw new InvalidImageError(`The ${format} image has no pixels (${width}x${height})`);
  if (depth !== "uchar" && depth !== "ushort") {
    throw new InvalidImageError(`Unsupported sample format '${depth}': expected 8- or 16-bit unsigned integers`);
  }
  return {
    width,
    height,
    pages: metadata.pages ?? 1,
    bitDepth: depth === "ushort" ? 16 : 8,
    gray: channels - (hasAlpha ? 1 : 0) === 1,
    pixelSizeUm: tiffPixelSizeUm(format, metadata),
  };
}

async function decodePage(
  bytes: Uint8Array,
  format: ImageFormat,
  page: number,
  header: PageHeader,
  maxPixels: number,
): Promise<GrayImage> {
  const wide = header.bitDepth === 16;
  // A gray source is decoded as is; anything else (RGB, palette, CMYK) as 3-channel sRGB, reduced below.
  const space = header.gray ? (wide ? "grey16" : "b-w") : wide ? "rgb16" : "srgb";
  const { data, info } = await withSharp(format, () =>
    open(bytes, page, maxPixels)
      .removeAlpha()
      .toColourspace(space)
      .raw({ depth: wide ? "ushort" : "uchar" })
      .toBuffer({ resolveWithObject: true }),
  );
  const samples = wide ? toUint16(data) : new Uint8Array(data.buffer, data.byteOffset, data.length);
  const pixels = info.channels === 1 ? samples : luminance(samples, info.channels);
  return {
    width: info.width,
    height: info.height,
    bitDepth: header.bitDepth,
    pixels,
    ...(header.pixelSizeUm !== undefined ? { pixelSizeUm: header.pixelSizeUm } : {}),
  };
}

function toUint16(data: Buffer): Uint16Array {
  // A Uint16Array view needs an even byte offset; sharp's output buffers have one, but do not rely on it.
  const aligned = data.byteOffset % 2 === 0 ? data : Buffer.from(data);
  return new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
}

/** PIL's ITU-R 601-2 luma in 16.16 fixed point, so RGB input matches what the model was trained on. */
function luminance(samples: Uint8Array | Uint16Array, channels: number): Uint8Array | Uint16Array {
  const length = samples.length / channels;
  const gray = samples instanceof Uint16Array ? new Uint16Array(length) : new Uint8Array(length);
  for (let i = 0, j = 0; i < length; i++, j += channels) {
    // The sum stays below 2^32, so the unsigned shift is an exact floor.
    gray[i] = (samples[j] * 19595 + samples[j + 1] * 38470 + samples[j + 2] * 7471 + 0x8000) >>> 16;
  }
  return gray;
}
