import { readFile } from "node:fs/promises";
import sharp, { type Sharp } from "sharp";
import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_PIXELS, decodeImage, decodeImagePages } from "../../../../core/image/decode";
import { ImageTooLargeError, InvalidImageError } from "../../../../core/errors";
import { pngClaiming } from "../../../support/forged-png";
import { sartoriusPath } from "../../../support/sartorius-data";

const WIDTH = 7;
const HEIGHT = 5;

function gradient8(offset = 0): Uint8Array {
  return Uint8Array.from({ length: WIDTH * HEIGHT }, (_, i) => (i * 7 + offset) % 256);
}

/** Values well above 255, so a decode that dropped to 8 bits would show. */
function gradient16(offset = 0): Uint16Array {
  return Uint16Array.from({ length: WIDTH * HEIGHT }, (_, i) => (i * 1877 + offset) % 65536);
}

/** Encodes single-channel pixels; several images become the pages of one TIFF ("toilet roll" input). */
function grayEncoder(...pages: (Uint8Array | Uint16Array)[]): Sharp {
  const wide = pages[0] instanceof Uint16Array;
  const joined = wide ? new Uint16Array(pages.length * WIDTH * HEIGHT) : new Uint8Array(pages.length * WIDTH * HEIGHT);
  for (const [index, page] of pages.entries()) joined.set(page, index * WIDTH * HEIGHT);
  return sharp(joined, {
    raw: { width: WIDTH, height: HEIGHT * pages.length, channels: 1, pageHeight: HEIGHT },
  }).toColourspace(wide ? "grey16" : "b-w");
}

function colourPng(channels: 3 | 4, samples: number[]): Promise<Buffer> {
  return sharp(Uint8Array.from(samples), { raw: { width: samples.length / channels, height: 1, channels } })
    .png()
    .toBuffer();
}

describe("decodeImage of supported formats", () => {
  it("keeps the pixels of an 8-bit gray PNG", async () => {
    // Prepare
    const png = await grayEncoder(gradient8()).png().toBuffer();

    // Act
    const image = await decodeImage(png);

    // Assess
    expect(image).toEqual({ width: WIDTH, height: HEIGHT, bitDepth: 8, pixels: gradient8() });
  });

  it("reduces an RGB PNG to PIL's luminance", async () => {
    // Prepare: red, green, blue, a gray; PIL's convert("L") gives 76, 150, 29, 100.
    const png = await colourPng(3, [255, 0, 0, 0, 255, 0, 0, 0, 255, 100, 100, 100]);

    // Act
    const image = await decodeImage(png);

    // Assess
    expect(image).toEqual({ width: 4, height: 1, bitDepth: 8, pixels: Uint8Array.of(76, 150, 29, 100) });
  });

  it("ignores the alpha channel of an RGBA PNG", async () => {
    // Prepare
    const png = await colourPng(4, [255, 0, 0, 128, 0, 255, 0, 0, 0, 0, 255, 255]);

    // Act
    const image = await decodeImage(png);

    // Assess
    expect(image.pixels).toEqual(Uint8Array.of(76, 150, 29));
  });

  it("keeps 16 bits of a 16-bit gray PNG", async () => {
    // Prepare
    const png = await grayEncoder(gradient16()).png().toBuffer();

    // Act
    const image = await decodeImage(png);

    // Assess
    expect(image).toEqual({ width: WIDTH, height: HEIGHT, bitDepth: 16, pixels: gradient16() });
  });

  it("reduces a 16-bit RGB PNG to 16-bit luminance", async () => {
    // Prepare
    const rgb = Uint16Array.of(40000, 20000, 10000, 65535, 65535, 65535);
    const png = await sharp(rgb, { raw: { width: 2, height: 1, channels: 3 } })
      .toColourspace("rgb16")
      .png()
      .toBuffer();

    // Act
    const image = await decodeImage(png);

    // Assess: (40000 * 19595 + 20000 * 38470 + 10000 * 7471 + 32768) >> 16 = 24840
    expect(image).toEqual({ width: 2, height: 1, bitDepth: 16, pixels: Uint16Array.of(24840, 65535) });
  });

  it.each([
    ["8-bit", gradient8()],
    ["16-bit", gradient16()],
  ])("keeps the pixels of a %s LZW TIFF", async (_, pixels) => {
    // Prepare
    const tiff = await grayEncoder(pixels).tiff({ compression: "lzw" }).toBuffer();

    // Act
    const image = await decodeImage(tiff);

    // Assess
    expect(image.pixels).toEqual(pixels);
  });

  it("approximates the pixels of a JPEG", async () => {
    // Prepare
    const pixels = gradient8();
    const jpeg = await grayEncoder(pixels).jpeg({ quality: 100 }).toBuffer();

    // Act
    const image = await decodeImage(jpeg);

    // Assess: lossy, but close at quality 100.
    expect(image).toMatchObject({ width: WIDTH, height: HEIGHT, bitDepth: 8 });
    for (const [i, value] of image.pixels.entries()) expect(Math.abs(value - pixels[i])).toBeLessThanOrEqual(3);
  });

  it("decodes a Sartorius training image as sharp sees it", async () => {
    // Prepare
    const bytes = await readFile(sartoriusPath("train", "images", "0030fd0e6378.png"));
    const expected = await sharp(bytes).extractChannel(0).raw().toBuffer();

    // Act
    const image = await decodeImage(bytes);

    // Assess
    expect(image).toMatchObject({ width: 704, height: 520, bitDepth: 8 });
    expect(Buffer.from(image.pixels)).toEqual(expected);
  });
});

describe("pixel size from the file", () => {
  const gray = () => sharp(Buffer.alloc(16 * 16, 80), { raw: { width: 16, height: 16, channels: 1 } });

  it.each(["cm", "inch"] as const)(
    "reads a TIFF's resolution tags (unit %s) as micrometres per pixel",
    async (resolutionUnit) => {
      // sharp takes the resolution in pixels per millimetre, whatever unit the file records it in, and
      // reports it in whole dots per inch (78,156 here, off by 1 part in 10^4).
      const tiff = await gray().tiff({ compression: "lzw", xres: 307.7, yres: 307.7, resolutionUnit }).toBuffer();
      expect((await decodeImage(tiff)).pixelSizeUm! / (1000 / 307.7)).toBeCloseTo(1, 3);
    },
  );

  it("states none for a TIFF without resolution tags, a 72-dpi screen default, or a PNG", async () => {
    const untagged = await gray().tiff({ compression: "lzw" }).toBuffer();
    const screen = await gray()
      .tiff({ compression: "lzw", xres: 72 / 25.4, yres: 72 / 25.4, resolutionUnit: "inch" })
      .toBuffer();
    const png = await gray().png().withMetadata({ density: 30_000 }).toBuffer();
    for (const bytes of [untagged, screen, png]) expect((await decodeImage(bytes)).pixelSizeUm).toBeUndefined();
  });
});

describe("multi-page TIFF", () => {
  const pages = [gradient16(0), gradient16(1000), gradient16(2000)];
  const stack = () =>
    grayEncoder(...pages)
      .tiff({ compression: "lzw" })
      .toBuffer();

  it("decodes the first page by default", async () => {
    // Act
    const image = await decodeImage(await stack());

    // Assess
    expect(image.pixels).toEqual(pages[0]);
  });

  it("decodes the requested page", async () => {
    // Act
    const image = await decodeImage(await stack(), { page: 2 });

    // Assess
    expect(image.pixels).toEqual(pages[2]);
  });

  it("decodes every page with decodeImagePages", async () => {
    // Act
    const images = await decodeImagePages(await stack());

    // Assess
    expect(images.map((image) => image.pixels)).toEqual(pages);
  });

  it("gives a single-page image as one page", async () => {
    // Act
    const images = await decodeImagePages(await grayEncoder(gradient8()).png().toBuffer());

    // Assess
    expect(images).toHaveLength(1);
  });

  it("refuses a page the image lacks", async () => {
    // Act and Assess
    await expect(decodeImage(await stack(), { page: 3 })).rejects.toThrow(InvalidImageError);
    await expect(decodeImage(await grayEncoder(gradient8()).png().toBuffer(), { page: 1 })).rejects.toThrow(
      /Page 1 was requested but the png image has 1 page/,
    );
  });

  it("bounds the pixels of all pages together", async () => {
    // Act and Assess: each page fits, the three do not.
    await expect(decodeImagePages(await stack(), { maxPixels: 2 * WIDTH * HEIGHT })).rejects.toThrow(
      new ImageTooLargeError(
        `The image's first 3 page(s) hold ${3 * WIDTH * HEIGHT} pixels, over the limit of ${2 * WIDTH * HEIGHT} pixels`,
      ),
    );
  });
});

describe("decodeImage of bad input", () => {
  it("refuses empty input", async () => {
    await expect(decodeImage(new Uint8Array(0))).rejects.toThrow(new InvalidImageError("The image is empty (0 bytes)"));
  });

  it.each([
    ["random bytes", Uint8Array.of(3, 141, 59, 26, 53, 58, 97, 93)],
    ["an SVG", Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>')],
    ["a PDF", Buffer.from("%PDF-1.4\n%%EOF\n")],
  ])("refuses %s as an unsupported format", async (_, bytes) => {
    await expect(decodeImage(bytes)).rejects.toThrow(/Unsupported image format: expected PNG, TIFF or JPEG/);
  });

  it("refuses a GIF", async () => {
    // Prepare
    const gif = await grayEncoder(gradient8()).gif().toBuffer();

    // Act and Assess
    await expect(decodeImage(gif)).rejects.toThrow(/Unsupported image format/);
  });

  it("refuses a PNG truncated inside its pixel data, keeping sharp's error as the cause", async () => {
    // Prepare
    const png = await readFile(sartoriusPath("train", "images", "0030fd0e6378.png"));

    // Act
    const error = await decodeImage(png.subarray(0, png.length / 2)).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(InvalidImageError);
    expect((error as Error).message).toMatch(/^Cannot read the PNG image: /);
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  it("refuses a TIFF missing the end of its last strip", async () => {
    // Prepare: the case sharp's laxer failOn levels let through.
    const tiff = await grayEncoder(gradient8()).tiff({ compression: "lzw" }).toBuffer();

    // Act and Assess
    await expect(decodeImage(tiff.subarray(0, tiff.length - 1))).rejects.toThrow(InvalidImageError);
  });

  it("refuses a 0x0 PNG", async () => {
    await expect(decodeImage(pngClaiming(0, 0))).rejects.toThrow(InvalidImageError);
  });

  it("refuses an image over the pixel limit, naming its size and the limit", async () => {
    // Prepare
    const png = await grayEncoder(gradient8()).png().toBuffer();

    // Act and Assess
    await expect(decodeImage(png, { maxPixels: 34 })).rejects.toThrow(
      new ImageTooLargeError("Image is 7x5 (35 pixels), over the limit of 34 pixels"),
    );
  });

  it("checks the limit from the header, before decoding the pixels", async () => {
    // Prepare: the pixel data is cut, the header is intact.
    const png = await readFile(sartoriusPath("train", "images", "0030fd0e6378.png"));

    // Act and Assess
    await expect(decodeImage(png.subarray(0, 100), { maxPixels: 1000 })).rejects.toThrow(ImageTooLargeError);
  });

  it("allows 50 megapixels by default", () => {
    expect(DEFAULT_MAX_PIXELS).toBe(50_000_000);
  });

  it.each([{ maxPixels: 0 }, { maxPixels: 1.5 }, { page: -1 }, { page: 0.5 }])(
    "rejects the bad option %o",
    async (options) => {
      await expect(decodeImage(Uint8Array.of(1), options)).rejects.toThrow(RangeError);
    },
  );
});
