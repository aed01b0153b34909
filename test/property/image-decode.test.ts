import fc from "fast-check";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeImage, decodeImagePages } from "../../core/image/decode";
import { CellsegInputError } from "../../core/errors";

/** Valid encodings of one small gray image, made once. */
let valid: Buffer[] = [];

beforeAll(async () => {
  const pixels = Uint16Array.from({ length: 24 * 16 }, (_, i) => (i * 2749) % 65536);
  const wide = () => sharp(pixels, { raw: { width: 24, height: 16, channels: 1 } }).toColourspace("grey16");
  const narrow = () => wide().toColourspace("b-w");
  valid = await Promise.all([
    narrow().png().toBuffer(),
    wide().png().toBuffer(),
    wide().tiff({ compression: "lzw" }).toBuffer(),
    narrow().tiff({ compression: "deflate" }).toBuffer(),
    narrow().jpeg().toBuffer(),
  ]);
});

const LIMIT = { maxPixels: 10_000 } as const;
const DECODERS = [
  (bytes: Uint8Array) => decodeImage(bytes, LIMIT).then((image) => [image]),
  (bytes: Uint8Array) => decodeImagePages(bytes, LIMIT),
];

/** Decodes with both entry points: each must give valid images or a domain input error. */
async function decodesOrRefuses(bytes: Uint8Array): Promise<void> {
  for (const decode of DECODERS) {
    const images = await decode(bytes).catch((error: unknown) => {
      expect(error).toBeInstanceOf(CellsegInputError);
      return [];
    });
    for (const image of images) {
      expect(image.width * image.height).toBe(image.pixels.length);
      expect(image.pixels).toBeInstanceOf(image.bitDepth === 16 ? Uint16Array : Uint8Array);
    }
  }
}

const RUNS = { numRuns: 150 } as const;

describe("decoding untrusted bytes", () => {
  it("gives a valid image or an input error for random bytes", async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), decodesOrRefuses), RUNS);
  });

  it("gives a valid image or an input error for random bytes behind a valid signature", async () => {
    const signature = fc.constantFrom(...valid.map((bytes) => bytes.subarray(0, 8)));
    const bytes = fc
      .tuple(signature, fc.uint8Array({ maxLength: 512 }))
      .map(([head, tail]) => Buffer.concat([head, tail]));
    await fc.assert(fc.asyncProperty(bytes, decodesOrRefuses), RUNS);
  });

  it("gives a valid image or an input error for every truncation of a valid file", async () => {
    const prefix = fc
      .tuple(fc.integer({ min: 0, max: valid.length - 1 }), fc.double({ min: 0, max: 1, noNaN: true }))
      .map(([which, fraction]) => valid[which].subarray(0, Math.floor(valid[which].length * fraction)));
    await fc.assert(fc.asyncProperty(prefix, decodesOrRefuses), RUNS);
  });

  it("gives a valid image or an input error for a valid file with corrupted bytes", async () => {
    const corrupted = fc
      .tuple(
        fc.integer({ min: 0, max: valid.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 8 }),
      )
      .map(([which, edits]) => {
        const bytes = Buffer.from(valid[which]);
        for (const [position, value] of edits) bytes[position % bytes.length] = value;
        return bytes;
      });
    await fc.assert(fc.asyncProperty(corrupted, decodesOrRefuses), RUNS);
  });
});
