import { describe, expect, it } from "vitest";
import { pasteBoxMask } from "../../../../core/masks/paste";

const M = 28;
// The same formula generated the expected values with torchvision's paste_masks_in_image.
const probabilities = Float32Array.from({ length: M * M }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);

// Expected values from torchvision 0.14 `paste_masks_in_image(..., padding=1) > 0.5`.
const TORCHVISION_CASES = [
  { box: [10.3, 20.7, 40.2, 45.9], width: 64, height: 64, area: 400, indexSum: 841433, bounds: [10, 20, 41, 46] },
  { box: [-5.5, -3.2, 12.8, 9.1], width: 50, height: 40, area: 61, indexSum: 13372, bounds: [0, 0, 13, 10] },
  { box: [30.0, 30.0, 31.0, 31.5], width: 40, height: 40, area: 4, indexSum: 4921, bounds: [29, 29, 32, 32] },
  { box: [100.2, 3.3, 160.7, 90.1], width: 150, height: 80, area: 1893, indexSum: 11899106, bounds: [100, 3, 150, 80] },
] as const;

describe("pasteBoxMask", () => {
  it.each(TORCHVISION_CASES)("matches torchvision for box $box", ({ box, width, height, area, indexSum, bounds }) => {
    // Act
    const mask = pasteBoxMask(probabilities, 0, M, box, width, height, 0.5);

    // Assess
    expect(mask).not.toBeNull();
    let pixels = 0;
    let sum = 0;
    let [minX, minY, maxX, maxY] = [Infinity, Infinity, -1, -1];
    for (let y = 0; y < mask!.height; y++) {
      for (let x = 0; x < mask!.width; x++) {
        if (!mask!.data[y * mask!.width + x]) continue;
        const [gx, gy] = [mask!.left + x, mask!.top + y];
        pixels++;
        sum += gy * width + gx;
        [minX, minY, maxX, maxY] = [Math.min(minX, gx), Math.min(minY, gy), Math.max(maxX, gx), Math.max(maxY, gy)];
      }
    }
    expect(pixels).toBe(area);
    expect(sum).toBe(indexSum);
    expect([minX, minY, maxX + 1, maxY + 1]).toEqual(bounds);
  });

  it("reads the mask at the given offset of a batch", () => {
    // Prepare
    const batch = new Float32Array(2 * M * M);
    batch.set(probabilities, M * M);

    // Act
    const first = pasteBoxMask(batch, 0, M, [10, 10, 30, 30], 64, 64, 0.5);
    const second = pasteBoxMask(batch, M * M, M, [10.3, 20.7, 40.2, 45.9], 64, 64, 0.5);

    // Assess
    expect(first).toBeNull();
    expect(second?.data.reduce((a, b) => a + b, 0)).toBe(400);
  });

  it("returns null for a box entirely outside the image", () => {
    expect(pasteBoxMask(probabilities, 0, M, [200, 200, 220, 230], 64, 64, 0.5)).toBeNull();
  });
});
