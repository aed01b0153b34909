import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeImage } from "../../core/image/decode";
import { modelInput } from "../../core/image/normalize";
import { PROFILES } from "../../core/schemas/manifest";
import { BUNDLED_MODEL_DIR, loadModels } from "../../inference/model-store";
import { SARTORIUS } from "./helpers";

/** What export.py recorded from PyTorch on one image (model-container/models/parity/<member>.json). */
interface ParityRecord {
  image: string;
  inputShape: [number, number, number];
  inputSum: number;
  inputSquareSum: number;
  detections: number;
  boxes: [number, number, number, number][];
  scores: number[];
  labels: number[];
  maskMeans: number[];
}

// Every member a profile uses, loaded as the runtime loads them (sha256 checked), with the exported float32
// detectors: int8 ones are compared with these in int8-detector.test.ts.
const { manifest, members } = await loadModels({ profiles: [...PROFILES], float32: true });
afterAll(() => Promise.all(members.map((m) => m.release())));

describe.each(manifest.members.filter((m) => members.some((loaded) => loaded.name === m.name)))(
  "member $name: onnxruntime-node agrees with PyTorch",
  (member) => {
    it("on the image export.py recorded", async () => {
      // Prepare
      const record: ParityRecord = JSON.parse(
        await readFile(path.join(BUNDLED_MODEL_DIR, "parity", `${member.name}.json`), "utf8"),
      );
      const image = await decodeImage(await readFile(path.join(SARTORIUS, "test", record.image)));
      const input = modelInput(image, manifest.input);
      const onnx = members.find((m) => m.name === member.name)!;

      // Act: every detection with its mask
      const found = await onnx.infer(input);

      // Assess: the TypeScript preprocessing feeds the model what PyTorch's did...
      expect([3, input.paddedHeight, input.paddedWidth]).toEqual(record.inputShape);
      let sum = 0;
      let squares = 0;
      for (const v of input.data) {
        sum += v;
        squares += v * v;
      }
      expect(sum / record.inputSum).toBeCloseTo(1, 5);
      expect(squares / record.inputSquareSum).toBeCloseTo(1, 5);
      // ...and the graph computes what PyTorch computed: every recorded detection is found again.
      expect(Math.abs(found.scores.length - record.detections)).toBeLessThanOrEqual(
        Math.max(2, record.detections * 0.01),
      );
      const size = found.maskSize * found.maskSize;
      record.boxes.forEach((box, i) => {
        let best = -1;
        let bestDistance = Infinity;
        for (let j = 0; j < found.scores.length; j++) {
          if (found.labels[j] !== record.labels[i]) continue;
          const distance = Math.max(...box.map((v, k) => Math.abs(v - found.boxes[j * 4 + k])));
          if (distance < bestDistance) [best, bestDistance] = [j, distance];
        }
        expect(bestDistance).toBeLessThan(0.5);
        expect(found.scores[best]).toBeCloseTo(record.scores[i], 2);
        const maskMean = found.masks.subarray(best * size, (best + 1) * size).reduce((a, b) => a + b, 0) / size;
        expect(maskMean).toBeCloseTo(record.maskMeans[i], 2);
      });
    });
  },
);
