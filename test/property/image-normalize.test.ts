import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { flipModelInput, modelInput, percentiles, type InputNormalization } from "../../core/image/normalize";
import type { GrayImage } from "../../core/types";

/** Small 8- or 16-bit images with random pixels; 2 pixels scale to at least 1 pixel by the scales below. */
const images: fc.Arbitrary<GrayImage> = fc
  .record({ width: fc.integer({ min: 2, max: 24 }), height: fc.integer({ min: 2, max: 24 }), wide: fc.boolean() })
  .chain(({ width, height, wide }) =>
    (wide ? fc.uint16Array : fc.uint8Array)({ minLength: width * height, maxLength: width * height }).map(
      (pixels): GrayImage => ({ width, height, bitDepth: wide ? 16 : 8, pixels }),
    ),
  );

const norms: fc.Arbitrary<InputNormalization> = fc.record({
  percentileLow: fc.double({ min: 0, max: 10, noNaN: true }),
  percentileHigh: fc.double({ min: 90, max: 100, noNaN: true }),
  mean: fc.double({ min: 0, max: 1, noNaN: true }),
  std: fc.double({ min: 0.1, max: 1, noNaN: true }),
  scale: fc.double({ min: 0.75, max: 2.5, noNaN: true }),
  sizeDivisor: fc.constantFrom(1, 8, 32),
});

/** np.percentile's 'linear' method, the textbook way: sort, then interpolate. */
function sortedPercentile(pixels: ArrayLike<number>, q: number): number {
  const sorted = Array.from(pixels).sort((a, b) => a - b);
  const virtual = (sorted.length - 1) * (q / 100);
  const below = sorted[Math.floor(virtual)];
  const above = sorted[Math.min(Math.floor(virtual) + 1, sorted.length - 1)];
  return below + (above - below) * (virtual - Math.floor(virtual));
}

function mirrored(image: GrayImage, axis: "horizontal" | "vertical"): GrayImage {
  const { width, height } = image;
  const pixels = image.pixels.map((_, i) => {
    const x = i % width;
    const y = Math.floor(i / width);
    return axis === "horizontal" ? image.pixels[y * width + width - 1 - x] : image.pixels[(height - 1 - y) * width + x];
  });
  return { ...image, pixels };
}

describe("normalisation properties", () => {
  it("finds the percentiles a sort finds", () => {
    fc.assert(
      fc.property(images, fc.double({ min: 0, max: 100, noNaN: true }), (image, q) => {
        expect(percentiles(image, [q])[0]).toBeCloseTo(sortedPercentile(image.pixels, q), 6);
      }),
    );
  });

  it("pads to multiples of the divisor with zeros and stays finite", () => {
    fc.assert(
      fc.property(images, norms, (image, norm) => {
        // Act
        const input = modelInput(image, norm);

        // Assess
        const { data, paddedHeight, paddedWidth, scaledHeight, scaledWidth } = input;
        expect(paddedHeight % norm.sizeDivisor).toBe(0);
        expect(paddedWidth % norm.sizeDivisor).toBe(0);
        expect(paddedHeight - scaledHeight).toBeLessThan(norm.sizeDivisor);
        expect(paddedWidth - scaledWidth).toBeLessThan(norm.sizeDivisor);
        expect(data).toHaveLength(3 * paddedHeight * paddedWidth);
        data.forEach((value, i) => {
          const x = i % paddedWidth;
          const y = Math.floor(i / paddedWidth) % paddedHeight;
          if (x >= scaledWidth || y >= scaledHeight) expect(value).toBe(0);
          else expect(Number.isFinite(value)).toBe(true);
        });
      }),
    );
  });

  it("flips the input as if the image had been flipped first", () => {
    fc.assert(
      fc.property(images, norms, fc.constantFrom("horizontal" as const, "vertical" as const), (image, norm, axis) => {
        // Act
        const flipped = flipModelInput(modelInput(image, norm), axis);
        const expected = modelInput(mirrored(image, axis), norm);

        // Assess: torch's float32 source coordinates are symmetric only to about 1e-6 of a pixel, which
        // standardisation magnifies by 1 / std.
        for (const [i, value] of flipped.data.entries()) {
          expect(Math.abs(value - expected.data[i]) * norm.std).toBeLessThan(1e-5);
        }
      }),
    );
  });
});
