import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeImage } from "../../core/image/decode";
import { modelInput } from "../../core/image/normalize";
import type { MemberDetections } from "../../core/segmentation/model-member";
import { loadModels } from "../../inference/model-store";
import { SARTORIUS, TRAIN_IMAGES } from "./helpers";

// The committed model on the CPU: its int8 detectors (the default), and the float32 ones, asked for.
const int8 = await loadModels({ profiles: ["fast"] });
const float32 = await loadModels({ profiles: ["fast"], float32: true });
afterAll(() => Promise.all([...int8.members, ...float32.members].map((m) => m.release())));

/** Confident enough to matter: the manifest's score thresholds are 0.2-0.58. */
const CONFIDENT = 0.3;

function iou(a: Float32Array, i: number, b: Float32Array, j: number): number {
  const w = Math.min(a[i * 4 + 2], b[j * 4 + 2]) - Math.max(a[i * 4], b[j * 4]);
  const h = Math.min(a[i * 4 + 3], b[j * 4 + 3]) - Math.max(a[i * 4 + 1], b[j * 4 + 1]);
  const inter = Math.max(0, w) * Math.max(0, h);
  const area = (box: Float32Array, k: number) => (box[k * 4 + 2] - box[k * 4]) * (box[k * 4 + 3] - box[k * 4 + 1]);
  return inter / (area(a, i) + area(b, j) - inter);
}

/**
 * For each confident detection of `reference`: the best IoU of a same-label detection in `other`, and the
 * difference of their scores.
 */
function matches(reference: MemberDetections, other: MemberDetections): { iou: number; scoreDifference: number }[] {
  const found = [];
  for (let i = 0; i < reference.scores.length; i++) {
    if (reference.scores[i] < CONFIDENT) continue;
    let best = { iou: 0, scoreDifference: 1 };
    for (let j = 0; j < other.scores.length; j++) {
      if (other.labels[j] !== reference.labels[i]) continue;
      const overlap = iou(reference.boxes, i, other.boxes, j);
      if (overlap > best.iou) best = { iou: overlap, scoreDifference: Math.abs(other.scores[j] - reference.scores[i]) };
    }
    found.push(best);
  }
  return found;
}

describe("the int8 detector", () => {
  it("is what the CPU runs unless float32 is asked for", () => {
    expect(int8.members.map((m) => [m.executionProvider, m.detectorPrecision])).toEqual([["cpu", "int8"]]);
    expect(float32.members.map((m) => m.detectorPrecision)).toEqual(["float32"]);
  });

  it.each([
    ["the parity image (test set)", path.join(SARTORIUS, "test", "7ae19de7bc2a.png")],
    ["a dense shsy5y training image", path.join(TRAIN_IMAGES, "d164e96bb7a9.png")],
  ])("finds the float32 detector's confident cells in %s, scored alike", async (_, file) => {
    // Prepare
    const input = modelInput(await decodeImage(await readFile(file)), int8.manifest.input);

    // Act
    const [quantized, exact] = await Promise.all([int8.members[0].detect(input), float32.members[0].detect(input)]);
    quantized.release();
    exact.release();

    // Assess: nearly every confident cell is found again, in nearly the same box, with nearly the same score
    const found = matches(exact, quantized);
    expect(found.length).toBeGreaterThan(15);
    const sameBox = found.filter((m) => m.iou >= 0.8);
    expect(sameBox.length / found.length).toBeGreaterThan(0.9);
    const differences = sameBox.map((m) => m.scoreDifference).sort((a, b) => a - b);
    expect(differences[Math.floor(differences.length / 2)]).toBeLessThan(0.02);
    expect(differences[Math.floor(differences.length * 0.95)]).toBeLessThan(0.05);
  });
});
