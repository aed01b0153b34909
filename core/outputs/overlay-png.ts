/**
 * A picture of the segmentation for a biologist to eyeball: the image as the preview shows it (contrast-stretched
 * to 8 bits), with each cell outlined or tinted in its cell type's colour.
 */
import sharp from "sharp";
import { FAST_PNG } from "./png-options";
import type { GrayImage, Instance } from "../types";
import { CELL_TYPE_COLOURS } from "./cell-type-colours";
import { labelMap } from "./label-png";
import { displayLut } from "./preview-png";

/** How cells are drawn: a 1-pixel outline inside each mask, or a translucent tint over it. */
export const OVERLAY_STYLES = ["outline", "tint"] as const;
export type OverlayStyle = (typeof OVERLAY_STYLES)[number];

/** Options of {@link overlayPng}. */
export interface OverlayOptions {
  /** @default "outline" */
  readonly style?: OverlayStyle;
}

/** Opacity of the tint: enough to read the cell type while the cell's texture stays visible. */
const TINT_OPACITY = 0.4;

/**
 * Renders an RGB PNG of the image with the instances drawn on it: a 1-pixel outline inside each mask
 * (default) or a translucent tint over it, coloured by {@link CELL_TYPE_COLOURS}.
 *
 * @example
 * ```ts
 * await writeFile("overlay.png", await overlayPng(image, instances, { style: "tint" }));
 * ```
 */
export async function overlayPng(
  image: GrayImage,
  instances: readonly Instance[],
  options: OverlayOptions = {},
): Promise<Buffer> {
  const { width, height, pixels } = image;
  const outline = (options.style ?? "outline") === "outline";
  const opacity = outline ? 1 : TINT_OPACITY;
  const display = displayLut(image);
  // One label map instead of a canvas per instance: each pass over the image is O(pixels).
  const labels = labelMap(instances, width, height);
  const colours = instances.map(({ cellType }) => CELL_TYPE_COLOURS[cellType]);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const gray = display[pixels[i]];
      const label = labels[i];
      const drawn = label !== 0 && (!outline || isBoundary(labels, width, height, x, y));
      for (let channel = 0; channel < 3; channel++) {
        rgb[i * 3 + channel] = drawn ? Math.round(gray + (colours[label - 1][channel] - gray) * opacity) : gray;
      }
    }
  }
  return sharp(rgb, { raw: { width, height, channels: 3 } })
    .png(FAST_PNG)
    .toBuffer();
}

/** A labelled pixel whose 4-neighbour lies outside the image or in another label. */
function isBoundary(labels: Uint16Array, width: number, height: number, x: number, y: number): boolean {
  const i = y * width + x;
  const label = labels[i];
  return (
    x === 0 ||
    y === 0 ||
    x === width - 1 ||
    y === height - 1 ||
    labels[i - 1] !== label ||
    labels[i + 1] !== label ||
    labels[i - width] !== label ||
    labels[i + width] !== label
  );
}
