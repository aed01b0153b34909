import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { resolveOverlaps } from "../../../../core/masks/overlap";
import type { BinaryMask } from "../../../../core/types";

function square(left: number, top: number, side: number, imageSide = 20): BinaryMask {
  return {
    imageWidth: imageSide,
    imageHeight: imageSide,
    left,
    top,
    width: side,
    height: side,
    data: new Uint8Array(side * side).fill(1),
  };
}

function pixels(mask: BinaryMask | null): Set<number> {
  const set = new Set<number>();
  if (!mask) return set;
  for (let y = 0; y < mask.height; y++)
    for (let x = 0; x < mask.width; x++)
      if (mask.data[y * mask.width + x]) set.add((mask.top + y) * mask.imageWidth + mask.left + x);
  return set;
}

const maskArbitrary = fc
  .record({
    left: fc.integer({ min: 0, max: 15 }),
    top: fc.integer({ min: 0, max: 15 }),
    width: fc.integer({ min: 1, max: 5 }),
    height: fc.integer({ min: 1, max: 5 }),
  })
  .chain(({ left, top, width, height }) =>
    fc
      .uint8Array({ minLength: width * height, maxLength: width * height, min: 0, max: 1 })
      .map((data): BinaryMask => ({ imageWidth: 20, imageHeight: 20, left, top, width, height, data })),
  );

describe("resolveOverlaps", () => {
  it("gives contested pixels to the earlier mask and crops the later one to what is left", () => {
    // Prepare
    const first = square(0, 0, 4);
    const second = square(2, 0, 4);

    // Act
    const [a, b] = resolveOverlaps([first, second]);

    // Assess
    expect(pixels(a)).toEqual(pixels(first));
    expect(b).toMatchObject({ left: 4, top: 0, width: 2, height: 4 });
  });

  it("drops a mask that is entirely covered by earlier ones", () => {
    expect(resolveOverlaps([square(0, 0, 6), square(1, 1, 3)])[1]).toBeNull();
  });

  it("returns disjoint masks, each a subset of its input, the first one unchanged", () => {
    fc.assert(
      fc.property(fc.array(maskArbitrary, { minLength: 1, maxLength: 8 }), (masks) => {
        const resolved = resolveOverlaps(masks);
        const seen = new Set<number>();
        resolved.forEach((mask, i) => {
          const own = pixels(mask);
          const original = pixels(masks[i]);
          for (const p of own) {
            expect(original.has(p)).toBe(true);
            expect(seen.has(p)).toBe(false);
            seen.add(p);
          }
        });
        expect(pixels(resolved[0])).toEqual(pixels(masks[0]));
        // Every input pixel is still covered by some mask.
        const union = new Set(masks.flatMap((m) => [...pixels(m)]));
        expect(seen).toEqual(union);
      }),
    );
  });
});
