import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeImage } from "../../core/image/decode";
import { modelInput } from "../../core/image/normalize";
import { BUNDLED_MODEL_DIR, loadModels, readManifest } from "../../inference/model-store";
import { OnnxMember } from "../../inference/onnx-member";
import { SARTORIUS, TRAIN_IMAGES } from "./helpers";

// The committed model on the CPU, as the runtime loads it: its int8 mask heads (the default), and the float32
// ones, asked for.
const int8 = await loadModels({ profiles: ["fast"] });
const float32 = await loadModels({ profiles: ["fast"], float32: true });

// The same member twice, both with its int8 detector (the same detections and feature maps), one with the int8
// mask head and one with the float32 one: the mask heads compared on the same inputs.
const manifest = await readManifest(BUNDLED_MODEL_DIR);
const { graphs, name, weight } = manifest.members[0];
if ("combined" in graphs || !graphs.detectorInt8 || !graphs.masksInt8) {
  throw new Error(`the committed member ${name} has no int8 detector and mask head`);
}
const read = (graph: { file: string }) => readFile(path.join(BUNDLED_MODEL_DIR, graph.file));
const floatGraphs = {
  detector: await read(graphs.detector),
  masks: await read(graphs.masks),
  detectorInt8: await read(graphs.detectorInt8),
};
const options = { name, weight, maskSize: manifest.maskSize, executionProvider: "cpu" } as const;
const withInt8Masks = await OnnxMember.load({ ...floatGraphs, masksInt8: await read(graphs.masksInt8) }, options);
const withFloatMasks = await OnnxMember.load(floatGraphs, options);
afterAll(() =>
  Promise.all([...int8.members, ...float32.members, withInt8Masks, withFloatMasks].map((m) => m.release())),
);

/** Below the manifest's lowest score threshold (0.2-0.58): every cell post-processing may keep. */
const KEPT = 0.2;

/** IoU of the two masks' pixels above `threshold`, mask by mask ([K, 1, M, M] box-frame probabilities). */
function maskIous(a: Float32Array, b: Float32Array, area: number, threshold: number): number[] {
  const ious = [];
  for (let start = 0; start < a.length; start += area) {
    let inter = 0;
    let union = 0;
    for (let p = start; p < start + area; p++) {
      const inA = a[p] > threshold;
      const inB = b[p] > threshold;
      if (inA && inB) inter++;
      if (inA || inB) union++;
    }
    ious.push(union === 0 ? 1 : inter / union);
  }
  return ious;
}

describe("the int8 mask head", () => {
  it("is what the CPU runs unless float32 is asked for", () => {
    expect(int8.members.map((m) => [m.executionProvider, m.detectorPrecision, m.masksPrecision])).toEqual([
      ["cpu", "int8", "int8"],
    ]);
    expect(float32.members.map((m) => [m.detectorPrecision, m.masksPrecision])).toEqual([["float32", "float32"]]);
    expect([withInt8Masks.masksPrecision, withFloatMasks.masksPrecision]).toEqual(["int8", "float32"]);
  });

  it.each([
    ["the parity image (test set)", path.join(SARTORIUS, "test", "7ae19de7bc2a.png")],
    ["a dense shsy5y training image", path.join(TRAIN_IMAGES, "d164e96bb7a9.png")],
  ])("draws the float32 mask head's masks of the same cells in %s", async (_, file) => {
    // Prepare
    const input = modelInput(await decodeImage(await readFile(file)), manifest.input);
    const [quantized, exact] = await Promise.all([withInt8Masks.detect(input), withFloatMasks.detect(input)]);
    expect(quantized.scores).toEqual(exact.scores);
    const kept = [...exact.scores.keys()].filter((i) => exact.scores[i] >= KEPT);

    // Act
    const [int8Masks, floatMasks] = await Promise.all([quantized.masks(kept), exact.masks(kept)]);
    quantized.release();
    exact.release();

    // Assess: thresholded as post-processing does, nearly every mask covers the same pixels
    const threshold = (manifest.profiles.fast.postprocess ?? manifest.postprocess).maskThreshold;
    const ious = maskIous(int8Masks, floatMasks, manifest.maskSize ** 2, threshold).sort((a, b) => a - b);
    expect(ious.length).toBeGreaterThan(15);
    expect(ious.reduce((sum, iou) => sum + iou, 0) / ious.length).toBeGreaterThan(0.95);
    expect(ious[Math.floor(ious.length * 0.05)]).toBeGreaterThan(0.9);
  });
});
