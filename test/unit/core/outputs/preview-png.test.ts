import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { overlayPng } from "../../../../core/outputs/overlay-png";
import { previewPng } from "../../../../core/outputs/preview-png";
import type { GrayImage, Instance } from "../../../../core/types";

const WIDTH = 8;
const HEIGHT = 6;

/** A 16-bit left-to-right ramp in a narrow band, as a camera's 12-bit data in a 16-bit TIFF. */
const IMAGE_16: GrayImage = {
  width: WIDTH,
  height: HEIGHT,
  bitDepth: 16,
  pixels: Uint16Array.from({ length: WIDTH * HEIGHT }, (_, i) => 1000 + (i % WIDTH) * 300),
};

/** One grey value per pixel (sharp's raw output of a greyscale PNG is RGB unless asked for one channel). */
async function greys(png: Buffer): Promise<Buffer> {
  return sharp(png).toColourspace("b-w").raw().toBuffer();
}

describe("previewPng", () => {
  it("renders a 16-bit image as an 8-bit greyscale PNG of its size, stretched to black and white", async () => {
    // Act
    const png = await previewPng(IMAGE_16);

    // Assess
    expect(await sharp(png).metadata()).toMatchObject({
      format: "png",
      width: WIDTH,
      height: HEIGHT,
      channels: 1,
      depth: "uchar",
    });
    const data = await greys(png);
    expect(data[0]).toBe(0);
    expect(data[WIDTH - 1]).toBe(255);
    const row = [...data.subarray(0, WIDTH)];
    expect(row).toEqual([...row].sort((a, b) => a - b));
  });

  it("is the overlay's image without its cells", async () => {
    // Prepare: one 3x3 cell; the overlay draws its ring, the centre pixel stays the image's grey.
    const mask = {
      imageWidth: WIDTH,
      imageHeight: HEIGHT,
      left: 2,
      top: 1,
      width: 3,
      height: 3,
      data: new Uint8Array(9).fill(1),
    };
    const cell: Instance = { cellType: "astro", score: 0.9, box: [2, 1, 5, 4], mask, area: 9 };

    // Act
    const [preview, overlay] = await Promise.all([previewPng(IMAGE_16), overlayPng(IMAGE_16, [cell])]);

    // Assess: every pixel off the outline is the preview's grey in all three channels
    const grey = await greys(preview);
    const rgb = await sharp(overlay).raw().toBuffer();
    const outline = new Set(
      [0, 1, 2].flatMap((x) => [0, 1, 2].map((y) => (1 + y) * WIDTH + 2 + x)).filter((i) => i !== 2 * WIDTH + 3),
    );
    for (let i = 0; i < WIDTH * HEIGHT; i++) {
      if (outline.has(i)) continue;
      expect([...rgb.subarray(i * 3, i * 3 + 3)]).toEqual([grey[i], grey[i], grey[i]]);
    }
  });
});
