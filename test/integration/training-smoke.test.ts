import { readFile, writeFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { decodeImage } from "../../core/image/decode";
import { loadModels } from "../../model-container/src/model-store";
import { hasTorch, SARTORIUS, TRAIN_IMAGES, TRAINING, trainingPython as python } from "./helpers";

// .ci/run installs Debian's torch, so CI always runs this; elsewhere it needs `apt-get install python3-torch ...`.
describe.skipIf(!hasTorch())("training and export (real code, a few steps on the CPU)", () => {
  it("trains, resumes from its checkpoint, exports ONNX + manifest that the Node runtime loads and runs", async () => {
    // Prepare: a tiny configuration of the real model.
    const dir = await mkdtemp(path.join(tmpdir(), "cellseg-train-"));
    const config = path.join(dir, "tiny.yaml");
    await writeFile(
      config,
      ["_BASE_: " + path.join(TRAINING, "configs", "starter.yaml"), "train:", "  crop: 192", "  checkpoint_every: 1", "  log_every: 1", "model:", "  rpn_post_nms_top_n_test: 200", "  detections_per_img: 100", ""].join("\n"),
    );
    const run = path.join(dir, "run");
    const models = path.join(dir, "models");

    // Act
    await python(["-m", "cellseg_train.train", "--config", config, "--out", run, "--max-steps", "1", "--val-limit", "1"]);
    const resumed = await python(["-m", "cellseg_train.train", "--config", config, "--out", run, "--max-steps", "2", "--val-limit", "1"]);
    await python([
      "-m", "cellseg_train.export", "--run", run, "--name", "tiny", "--models", models,
      "--parity-image", path.join(SARTORIUS, "test", "7ae19de7bc2a.png"),
    ]);

    // Assess
    expect(resumed.stdout).toMatch(/resumed from step 1/);
    const metrics = JSON.parse(await readFile(path.join(run, "metrics.json"), "utf8"));
    expect(metrics.steps).toBe(2);
    expect(metrics.validation_images).toBe(1);
    const { manifest, segmenters } = await loadModels({ modelDir: models, profiles: ["accurate"] });
    const segmenter = segmenters.accurate!;
    expect(manifest.members[0]).toMatchObject({ name: "tiny", file: "tiny.onnx" });
    const image = await decodeImage(await readFile(path.join(TRAIN_IMAGES, "0030fd0e6378.png")));
    const { instances, timings } = await segmenter.segment(image);
    expect(Array.isArray(instances)).toBe(true);
    expect(timings.inferenceMs).toBeGreaterThan(0);
  }, 600_000);
});
