import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { decodeImage } from "../../../../core/image/decode";
import { maskArea, maskBox, maskFromPixelIndices } from "../../../../core/masks/binary-mask";
import { labelMap, labelPng, MAX_LABELS } from "../../../../core/outputs/label-png";
import type { Instance } from "../../../../core/types";

const WIDTH = 5;
const HEIGHT = 4;

function instance(indices: number[], imageWidth = WIDTH, imageHeight = HEIGHT): Instance {
  const mask = maskFromPixelIndices(indices, imageWidth, imageHeight);
  return { cellType: "astro", score: 0.9, box: maskBox(mask), mask, area: maskArea(mask) };
}

// Image rows:  1 1 . . .
//              1 . . 2 2
//              . . . 2 2
//              . 3 . . .
const INSTANCES = [instance([0, 1, 5]), instance([8, 9, 13, 14]), instance([16])];
const EXPECTED = Uint16Array.of(1, 1, 0, 0, 0, 1, 0, 0, 2, 2, 0, 0, 0, 2, 2, 0, 3, 0, 0, 0);

describe("labelMap", () => {
  it("numbers the instances from 1 in their order, 0 for background", () => {
    expect(labelMap(INSTANCES, WIDTH, HEIGHT)).toEqual(EXPECTED);
  });

  it("gives an overlapped pixel to the earlier instance", () => {
    // Act
    const labels = labelMap([instance([0, 1]), instance([1, 2])], WIDTH, HEIGHT);

    // Assess
    expect(Array.from(labels.subarray(0, 3))).toEqual([1, 1, 2]);
  });

  it("refuses more instances than 16 bits can number", () => {
    // Prepare
    const many = Array.from({ length: MAX_LABELS + 1 }, () => INSTANCES[0]);

    // Act and Assess
    expect(() => labelMap(many, WIDTH, HEIGHT)).toThrow(
      /Cannot label 65536 instances: a 16-bit label image holds at most 65535/,
    );
  });

  it("refuses a mask of an image of another size", () => {
    expect(() => labelMap([instance([0], 6, 4)], WIDTH, HEIGHT)).toThrow(RangeError);
  });
});

describe("labelPng", () => {
  it("writes a 16-bit single-channel PNG", async () => {
    // Act
    const png = await labelPng(INSTANCES, WIDTH, HEIGHT);

    // Assess
    expect(await sharp(png).metadata()).toMatchObject({
      format: "png",
      width: WIDTH,
      height: HEIGHT,
      channels: 1,
      depth: "ushort",
    });
  });

  it("round-trips the labels through decodeImage", async () => {
    // Act
    const decoded = await decodeImage(await labelPng(INSTANCES, WIDTH, HEIGHT));

    // Assess
    expect(decoded).toEqual({ width: WIDTH, height: HEIGHT, bitDepth: 16, pixels: EXPECTED });
  });

  it("keeps labels above 255", async () => {
    // Prepare: 300 one-pixel instances on a 20x15 image
    const dots = Array.from({ length: 300 }, (_, i) => instance([i], 20, 15));

    // Act
    const decoded = await decodeImage(await labelPng(dots, 20, 15));

    // Assess
    expect(decoded.pixels).toEqual(Uint16Array.from({ length: 300 }, (_, i) => i + 1));
  });

  it("writes an all-background image for no instances", async () => {
    // Act
    const decoded = await decodeImage(await labelPng([], WIDTH, HEIGHT));

    // Assess
    expect(decoded.pixels.every((label) => label === 0)).toBe(true);
  });
});
