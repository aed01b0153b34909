import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { hasTorch, PYTHON, SARTORIUS, TRAINING, trainingPython as python } from "./helpers";

const MIB = 1 << 20;
const run = promisify(execFile);

// The packed annotations must give exactly the original masks; the JPEG pixels only a little error.
const SAME_MASKS = `
import sys, numpy as np
from cellseg_train.data import load_annotated
ids = sys.argv[2:]
original = load_annotated(sys.argv[1].split("|")[0], ids, "sartorius")
packed = load_annotated(sys.argv[1].split("|")[1], ids, "packed")
assert [i.image_id for i in original] == [i.image_id for i in packed] == sorted(ids)
for a, b in zip(original, packed):
    assert a.cell_type == b.cell_type and len(a.instances) == len(b.instances)
    for x, y in zip(a.instances, b.instances):
        assert (x.y0, x.x0) == (y.y0, y.x0) and np.array_equal(x.mask, y.mask)
    assert np.abs(a.pixels.astype(int) - b.pixels).mean() < 3
print(sum(len(a.instances) for a in original))
`;

// CI installs Debian's torch, so this always runs there; elsewhere it needs `apt-get install python3-torch ...`.
describe.skipIf(!hasTorch())(
  "GPU round script, on the CPU with a tiny budget (skipped: /usr/bin/python3 cannot import torch)",
  () => {
    it("packs the data, starts a member, continues it in a second round, " +
      "and leaves a checkpoint of committable files", async () => {
      // Prepare: the packed data and a tiny variant of the GPU config (same architecture).
      const dir = await mkdtemp(path.join(tmpdir(), "cellseg-gpu-run-"));
      const packed = path.join(dir, "packed");
      const config = path.join(dir, "tiny.yaml");
      await python(["-m", "cellseg_train.pack", "--data", SARTORIUS, "--out", packed]);
      await writeFile(
        config,
        [
          `_BASE_: ${path.join(TRAINING, "configs", "gpu.yaml")}`,
          "train:",
          "  crop: 128",
          "  batch_size: 1",
          "  workers: 1",
          "  threads: 1",
          "model:",
          "  rpn_post_nms_top_n_test: 100",
          "  detections_per_img: 50",
          "",
        ].join("\n"),
      );
      // One training step per round; the budget's remainder goes to the throughput measurement, so a generous
      // budget keeps both batches measured on a loaded machine.
      const round = (out: string, checkpoint: string) =>
        run("bash", [path.join(TRAINING, "gpu_run.sh"), out], {
          env: {
            ...process.env,
            PACKED: packed,
            CONFIG: config,
            CHECKPOINT: checkpoint,
            PYTHON,
            BUDGET_MINUTES: "6",
            MEASURE_MINUTES: "1",
            TRAIN_ARGS: "--opts train.max_steps=1",
            MEASURE_ARGS: "--batches 1,2 --seconds 0.2",
          },
          maxBuffer: 64 << 20,
        });

      // Act: a first round with no checkpoint, then a second one continuing what the first brought back.
      const sameMasks = await python([
        "-c",
        SAME_MASKS,
        `${SARTORIUS}|${packed}`,
        "0030fd0e6378",
        "03b27b381a5f",
        "0140b3c8f445",
      ]);
      const first = path.join(dir, "round-1");
      const second = path.join(dir, "round-2");
      await round(first, path.join(dir, "no-checkpoint-yet"));
      await round(second, path.join(first, "checkpoint"));

      // Assess: the packed data...
      expect(Number(sameMasks.stdout)).toBeGreaterThan(0);
      const pack = JSON.parse(await readFile(path.join(packed, "pack.json"), "utf8"));
      expect(pack.images).toBe(381);
      expect(pack.total_mib).toBeLessThan(40);
      // ...what a round leaves: a few files, none over the 16 MiB the repository takes...
      const files = (await readdir(second, { recursive: true, withFileTypes: true })).filter((f) => f.isFile());
      const names = files.map((f) => path.relative(second, path.join(f.parentPath, f.name))).sort();
      expect(names.length).toBeLessThanOrEqual(8);
      expect(names).toEqual(
        expect.arrayContaining([
          "checkpoint/checkpoint.json",
          "checkpoint/throughput.json",
          "checkpoint/train-log.jsonl",
          "run.log",
        ]),
      );
      for (const name of names) expect((await stat(path.join(second, name))).size).toBeLessThanOrEqual(16 * MIB);
      // ...the second round continued the first, which it left untouched...
      const firstIndex = JSON.parse(await readFile(path.join(first, "checkpoint", "checkpoint.json"), "utf8"));
      const secondIndex = JSON.parse(await readFile(path.join(second, "checkpoint", "checkpoint.json"), "utf8"));
      expect(firstIndex.step).toBe(1);
      expect(secondIndex.step).toBe(2);
      expect(secondIndex.runs).toHaveLength(2);
      expect(await readFile(path.join(second, "run.log"), "utf8")).toMatch(/resumed from step 1/);
      // ...and the throughput was measured on the continued member.
      const throughput = JSON.parse(await readFile(path.join(second, "checkpoint", "throughput.json"), "utf8"));
      expect(throughput.checkpoint_step).toBe(2);
      expect(throughput.image_size).toEqual([704, 520]);
      expect(throughput.measurements.map((m: { batch: number }) => m.batch)).toEqual([1, 2]);
      expect(throughput.best.float32.images_per_second).toBeGreaterThan(0);
      await rm(dir, { recursive: true, force: true });
    }, 1_200_000);
  },
);
