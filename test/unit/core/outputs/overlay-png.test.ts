import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { CELL_TYPE_COLOURS } from "../../../../core/outputs/cell-type-colours";
import { overlayPng } from "../../../../core/outputs/overlay-png";
import { CELL_TYPES, type CellType, type GrayImage, type Instance } from "../../../../core/types";

const WIDTH = 8;
const HEIGHT = 6;
/** A left-to-right ramp, 0 to 210: the display stretch maps it close to 0..255. */
const IMAGE: GrayImage = {
  width: WIDTH,
  height: HEIGHT,
  bitDepth: 8,
  pixels: Uint8Array.from({ length: WIDTH * HEIGHT }, (_, i) => (i % WIDTH) * 30),
};

/** A filled rectangle. */
function rectangle(cellType: CellType, left: number, top: number, width: number, height: number): Instance {
  const mask = {
    imageWidth: WIDTH,
    imageHeight: HEIGHT,
    left,
    top,
    width,
    height,
    data: new Uint8Array(width * height).fill(1),
  };
  return { cellType, score: 0.9, box: [left, top, left + width, top + height], mask, area: width * height };
}

// A 4x4 "cort" cell at (1, 1): its ring is outline, (2, 2)..(3, 3) is inside.
const CELL = rectangle("cort", 1, 1, 4, 4);

async function rgbAt(png: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return Array.from(data.subarray(i, i + 3));
}

describe("overlayPng", () => {
  it("renders an RGB PNG of the image's size", async () => {
    // Act
    const png = await overlayPng(IMAGE, [CELL]);

    // Assess
    expect(await sharp(png).metadata()).toMatchObject({ format: "png", width: WIDTH, height: HEIGHT, channels: 3 });
  });

  it("draws the outline in the cell type's colour and leaves the inside gray", async () => {
    // Act
    const png = await overlayPng(IMAGE, [CELL]);

    // Assess
    expect(await rgbAt(png, 1, 2)).toEqual([...CELL_TYPE_COLOURS.cort]);
    expect(await rgbAt(png, 4, 4)).toEqual([...CELL_TYPE_COLOURS.cort]);
    const [red, green, blue] = await rgbAt(png, 2, 2);
    expect([green, blue]).toEqual([red, red]);
  });

  it("stretches the image's contrast for display", async () => {
    // Act
    const png = await overlayPng(IMAGE, []);

    // Assess: the darkest and brightest columns
    expect(await rgbAt(png, 0, 0)).toEqual([0, 0, 0]);
    expect(await rgbAt(png, WIDTH - 1, 0)).toEqual([255, 255, 255]);
  });

  it("tints the whole cell when asked, keeping the image visible", async () => {
    // Act
    const png = await overlayPng(IMAGE, [CELL], { style: "tint" });

    // Assess: inside and edge alike, a blend between the gray and the colour
    for (const [x, y] of [
      [2, 2],
      [1, 1],
    ]) {
      const [gray] = await rgbAt(await overlayPng(IMAGE, []), x, y);
      const tinted = await rgbAt(png, x, y);
      tinted.forEach((value, channel) => {
        const colour = CELL_TYPE_COLOURS.cort[channel];
        expect(value).toBeGreaterThanOrEqual(Math.min(gray, colour));
        expect(value).toBeLessThanOrEqual(Math.max(gray, colour));
      });
      expect(tinted).not.toEqual([gray, gray, gray]);
    }
  });

  it("outlines both sides where two cells touch", async () => {
    // Prepare: two 2x4 cells side by side, astro at x 1-2, shsy5y at x 3-4
    const cells = [rectangle("astro", 1, 1, 2, 4), rectangle("shsy5y", 3, 1, 2, 4)];

    // Act
    const png = await overlayPng(IMAGE, cells);

    // Assess
    expect(await rgbAt(png, 2, 2)).toEqual([...CELL_TYPE_COLOURS.astro]);
    expect(await rgbAt(png, 3, 2)).toEqual([...CELL_TYPE_COLOURS.shsy5y]);
  });

  it("renders a 16-bit image", async () => {
    // Prepare
    const wide: GrayImage = { ...IMAGE, bitDepth: 16, pixels: Uint16Array.from(IMAGE.pixels, (value) => value * 300) };

    // Act
    const png = await overlayPng(wide, [CELL]);

    // Assess
    expect(await rgbAt(png, WIDTH - 1, 0)).toEqual([255, 255, 255]);
  });
});

describe("CELL_TYPE_COLOURS", () => {
  it("gives every cell type its own colour", () => {
    const colours = new Set(CELL_TYPES.map((type) => CELL_TYPE_COLOURS[type].join()));
    expect(colours.size).toBe(CELL_TYPES.length);
  });
});
