/**
 * The image as a person sees it: contrast-stretched to 8 bits, robust to a few saturated pixels, the way
 * the overlay shows it under its outlines. Browsers cannot draw TIFF or 16-bit grey, so the web console
 * draws this under its own toggleable outlines.
 */
import sharp from "sharp";
import { percentileLut } from "../image/normalize";
import type { GrayImage } from "../types";
import { FAST_PNG } from "./png-options";

/** Display stretch: the 0.5th percentile to black, the 99.5th to white, like the model's own input stretch. */
const DISPLAY_PERCENTILES = [0.5, 99.5] as const;

/**
 * The 8-bit grey each pixel level of the image is shown as.
 *
 * @example
 * ```ts
 * const grey = displayLut(image)[image.pixels[0]]; // 0..255
 * ```
 */
export function displayLut(image: GrayImage): Uint8Array {
  const unit = percentileLut(image, ...DISPLAY_PERCENTILES);
  return Uint8Array.from(unit, (value) => Math.round(value * 255));
}

/**
 * An 8-bit greyscale PNG of the image, stretched by {@link displayLut}.
 *
 * @example
 * ```ts
 * await writeFile("preview.png", await previewPng(image));
 * ```
 */
export async function previewPng(image: GrayImage): Promise<Buffer> {
  const { width, height, pixels } = image;
  const display = displayLut(image);
  const grey = new Uint8Array(width * height);
  for (let i = 0; i < grey.length; i++) grey[i] = display[pixels[i]];
  return sharp(grey, { raw: { width, height, channels: 1 } })
    .toColourspace("b-w")
    .png(FAST_PNG)
    .toBuffer();
}
