import { readFile, writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { decodeImage } from "../../core/image/decode";
import { loadModels } from "../../inference/model-store";
import { hasTorch, SARTORIUS, TRAIN_IMAGES, TRAINING, trainingPython as python } from "./helpers";

// .ci/run installs Debian's torch, so CI always runs this; elsewhere it needs `apt-get install python3-torch ...`.
describe.skipIf(!hasTorch())(
  "training and export (real code, a few steps on the CPU; skipped: /usr/bin/python3 cannot import torch)",
  () => {
    it("trains, continues its checkpoint, validates, " +
      "exports both ONNX graphs + manifest and their int8 twins, which the Node runtime loads and runs", async () => {
      // Prepare: the real member's architecture with small crops and few detections.
      const dir = await mkdtemp(path.join(tmpdir(), "cellseg-train-"));
      const config = path.join(dir, "tiny.yaml");
      await writeFile(
        config,
        [
          `_BASE_: ${path.join(TRAINING, "configs", "cpu.yaml")}`,
          "train:",
          "  crop: 192",
          "  log_every: 1",
          "model:",
          "  rpn_post_nms_top_n_test: 200",
          "  detections_per_img: 100",
          "",
        ].join("\n"),
      );
      const checkpoint = path.join(dir, "member");
      const metrics = path.join(dir, "metrics.json");
      const models = path.join(dir, "models");

      const trainOneStep = (...opts: string[]) =>
        python([
          "-m",
          "cellseg_train.train",
          "--config",
          config,
          "--checkpoint",
          checkpoint,
          "--opts",
          "train.max_steps=1",
          ...opts,
        ]);

      // Act
      await trainOneStep();
      const resumed = await trainOneStep("train.crop=160");
      await python(["-m", "cellseg_train.validate", "--checkpoint", checkpoint, "--out", metrics, "--val-limit", "1"]);
      const member = ["--checkpoint", checkpoint, "--name", "tiny", "--models", models];
      const parityImage = path.join(SARTORIUS, "test", "7ae19de7bc2a.png");
      await python(["-m", "cellseg_train.export", ...member, "--metrics", metrics, "--parity-image", parityImage]);
      const quantized = await python(["-m", "cellseg_train.quantize", ...member, "--images", "2"]);

      // Assess: the second run continued the first (its own budget, not the restored one)...
      expect(resumed.stdout).toMatch(/resumed from step 1/);
      expect(resumed.stdout).toMatch(/trained 1 steps .*: step 2 in all/);
      const index = JSON.parse(await readFile(path.join(checkpoint, "checkpoint.json"), "utf8"));
      expect(index.step).toBe(2);
      expect(index.runs.map((r: { crop: number }) => r.crop)).toEqual([192, 160]);
      expect(index.parts.length).toBeGreaterThan(0);
      // ...validation scored the held-out image...
      const scores = JSON.parse(await readFile(metrics, "utf8"));
      expect(scores.validation_images).toBe(1);
      expect(scores.map_tuned.map).toBeGreaterThanOrEqual(0);
      // ...and the export (detector and mask head, and their int8 twins) runs in the Node runtime.
      expect(quantized.stdout).toMatch(/tiny\.detector-int8\.onnx: \d+ convolutions in int8/);
      expect(quantized.stdout).toMatch(/tiny\.masks-int8\.onnx: \d+ convolutions in int8/);
      const { manifest, segmenters, members } = await loadModels({ modelDir: models, profiles: ["accurate"] });
      expect(manifest.members[0]).toMatchObject({
        name: "tiny",
        graphs: {
          detector: { file: "tiny.detector.onnx" },
          masks: { file: "tiny.masks.onnx" },
          detectorInt8: { file: "tiny.detector-int8.onnx" },
          masksInt8: { file: "tiny.masks-int8.onnx" },
        },
        training: { steps: 2 },
      });
      expect([members[0].detectorPrecision, members[0].masksPrecision]).toEqual(["int8", "int8"]);
      const image = await decodeImage(await readFile(path.join(TRAIN_IMAGES, "0030fd0e6378.png")));
      const { instances, timings } = await segmenters.accurate!.segment(image);
      expect(Array.isArray(instances)).toBe(true);
      expect(timings.inferenceMs).toBeGreaterThan(0);
      await rm(dir, { recursive: true, force: true });
    }, 600_000);
  },
);
