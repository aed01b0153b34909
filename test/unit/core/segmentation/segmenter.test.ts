import { describe, expect, it } from "vitest";
import type { ModelInput } from "../../../../core/image/normalize";
import { fuseDetections } from "../../../../core/postprocess/fusion";
import { detectionsToInstances } from "../../../../core/postprocess/instances";
import { manifestSchema } from "../../../../core/schemas/manifest";
import type { MemberDetections, ModelMember } from "../../../../core/segmentation/model-member";
import { Segmenter } from "../../../../core/segmentation/segmenter";
import type { GrayImage } from "../../../../core/types";

const MASK_SIZE = 4;

/** Cells of the model-input frame (64 x 64): box, score, label. Two shsy5y detections below the 0.3 threshold. */
const FOUND: [number, number, number, number, number, number][] = [
  [4, 4, 20, 20, 0.9, 1],
  [5, 5, 21, 19, 0.6, 1],
  [30, 30, 50, 44, 0.8, 1],
  [40, 2, 60, 16, 0.2, 1],
  [10, 40, 24, 60, 0.25, 1],
  [2, 30, 12, 40, 0.5, 2],
];

/**
 * A member that finds FOUND wherever it looks (shifted a little on a flipped input, so TTA variants
 * differ), with masks that are not symmetric (flipping them back matters), and records which masks it was
 * asked for.
 */
class FakeMember implements ModelMember {
  readonly name = "fake";
  readonly weight = 1;
  readonly asked: number[][] = [];
  released = 0;

  async detect(input: ModelInput): Promise<MemberDetections> {
    const shift = input.data[0] === 0 ? 0 : 1;
    const boxes = Float32Array.from(FOUND.flatMap(([x1, y1, x2, y2]) => [x1 + shift, y1, x2 + shift, y2]));
    return {
      boxes,
      scores: Float32Array.from(FOUND.map((f) => f[4])),
      labels: Int32Array.from(FOUND.map((f) => f[5])),
      masks: async (indices) => {
        this.asked.push([...indices]);
        const area = MASK_SIZE * MASK_SIZE;
        const masks = new Float32Array(indices.length * area);
        indices.forEach((i, k) => {
          for (let p = 0; p < area; p++)
            masks[k * area + p] = ((p % MASK_SIZE) + i + shift) / (MASK_SIZE + FOUND.length + 1);
        });
        return masks;
      },
      release: () => this.released++,
    };
  }
}

const manifest = manifestSchema.parse({
  version: "test",
  classes: ["shsy5y", "astro", "cort"],
  input: { percentileLow: 0.5, percentileHigh: 99.5, mean: 0.5, std: 0.25, scale: 1, sizeDivisor: 32 },
  maskSize: MASK_SIZE,
  members: [
    {
      name: "fake",
      graphs: {
        detector: { file: "d.onnx", sha256: "0".repeat(64) },
        masks: { file: "m.onnx", sha256: "0".repeat(64) },
      },
      architecture: "x",
      trainingData: "x",
      training: {},
    },
  ],
  postprocess: {
    scoreThresholds: { shsy5y: 0.3, astro: 0.3, cort: 0.3 },
    minAreas: { shsy5y: 0, astro: 0, cort: 0 },
    maskThreshold: 0.3,
    fusionIou: 0.5,
    minKeptFraction: 0,
  },
  profiles: {
    fast: { members: ["fake"], tta: ["none"] },
    accurate: { members: ["fake"], tta: ["none", "horizontal", "vertical"] },
  },
});

/** A 64 x 64 gradient, dark in the top-left corner (so a flipped input starts bright). */
const image: GrayImage = {
  width: 64,
  height: 64,
  bitDepth: 8,
  pixels: Uint8Array.from({ length: 64 * 64 }, (_, p) => (p % 64) * 2 + Math.floor(p / 64) * 2),
};

describe("Segmenter", () => {
  it.each(["fast", "accurate"] as const)(
    "%s: computes masks only for the cells it keeps, and gives what fusing every mask gives",
    async (profile) => {
      // Prepare
      const member = new FakeMember();
      const segmenter = new Segmenter(manifest, [member], profile);

      // Act
      const { instances } = await segmenter.segment(image);
      const maskedForSegment = member.asked.flat().length;
      const { sources } = await segmenter.detectSources(image);
      const everyMask = detectionsToInstances(
        fuseDetections(sources, segmenter.postprocess.fusionIou),
        image.width,
        image.height,
        segmenter.postprocess,
      );

      // Assess: the same cells, scores and pixels as post-processing every mask...
      expect(instances.length).toBeGreaterThan(0);
      expect(instances.map((i) => [i.score, i.area, i.box])).toEqual(everyMask.map((i) => [i.score, i.area, i.box]));
      expect(instances.map((i) => Array.from(i.mask.data))).toEqual(everyMask.map((i) => Array.from(i.mask.data)));
      // ...with masks asked only for detections in kept cells (without TTA: the voted type's above its
      // threshold, not the 0.2, 0.25 or astro ones), and every detection's feature maps released.
      const variants = manifest.profiles[profile].tta.length;
      if (profile === "fast") expect(member.asked[0].map((i) => FOUND[i][4])).toEqual([0.9, 0.8, 0.6]);
      expect(maskedForSegment).toBeLessThan(FOUND.length * variants);
      expect(member.released).toBe(2 * variants);
    },
  );

  it("releases what the members hold when a mask computation fails", async () => {
    // Prepare
    const member = new FakeMember();
    const failing: ModelMember = {
      name: "fake",
      weight: 1,
      detect: async (input) => ({
        ...(await member.detect(input)),
        masks: async () => Promise.reject(new Error("mask head failed")),
        release: () => member.released++,
      }),
    };
    const segmenter = new Segmenter(manifest, [failing], "accurate");

    // Act / Assess
    await expect(segmenter.segment(image)).rejects.toThrow("mask head failed");
    expect(member.released).toBe(3);
  });
});
