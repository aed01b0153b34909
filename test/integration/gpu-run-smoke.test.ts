import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { decodeImage } from "../../core/image/decode";
import { loadModels } from "../../model-container/src/model-store";
import { hasTorch, PYTHON, SARTORIUS, TRAIN_IMAGES, TRAINING, trainingPython as python } from "./helpers";

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
describe.skipIf(!hasTorch())("GPU run script, on the CPU with a tiny budget (skipped: /usr/bin/python3 cannot import torch)", () => {
  it("packs the data, trains and exports two members, and writes a manifest the Node runtime serves", async () => {
    // Prepare: the packed data and tiny variants of the real member configs (same architectures).
    const dir = await mkdtemp(path.join(tmpdir(), "cellseg-gpu-run-"));
    const packed = path.join(dir, "packed");
    const out = path.join(dir, "out");
    const configs = path.join(dir, "configs");
    await python(["-m", "cellseg_train.pack", "--data", SARTORIUS, "--out", packed]);
    await run("mkdir", ["-p", configs]);
    for (const member of ["gpu-a", "gpu-b"]) {
      const tiny = ["train:", "  crop: 128", "  batch_size: 1", "  workers: 1", "  threads: 1", "model:", "  rpn_post_nms_top_n_test: 100", "  detections_per_img: 50"];
      await writeFile(path.join(configs, `${member}.yaml`), [`_BASE_: ${path.join(TRAINING, "configs", `${member}.yaml`)}`, ...tiny, ""].join("\n"));
    }

    // Act
    const sameMasks = await python(["-c", SAME_MASKS, `${SARTORIUS}|${packed}`, "0030fd0e6378", "03b27b381a5f", "0140b3c8f445"]);
    await run("bash", [path.join(TRAINING, "gpu_run.sh")], {
      env: {
        ...process.env,
        OUT: out,
        PACKED: packed,
        // Not the checkout's runs/: a real run's checkpoints there must survive the test.
        RUNS: path.join(dir, "runs"),
        CONFIG_DIR: configs,
        PYTHON,
        BUDGET_MINUTES: "8",
        TRAIN_ARGS: "--max-steps 1 --val-limit 2",
        ENSEMBLE_ARGS: "--val-limit 2",
      },
      maxBuffer: 64 << 20,
    });

    // Assess: the packed data...
    expect(Number(sameMasks.stdout)).toBeGreaterThan(0);
    const pack = JSON.parse(await readFile(path.join(packed, "pack.json"), "utf8"));
    expect(pack.images).toBe(381);
    expect(pack.total_mib).toBeLessThan(40);
    // ...what comes back from the GPU machine: at most 8 files of at most 16 MiB...
    const files = (await readdir(out, { recursive: true, withFileTypes: true })).filter((f) => f.isFile());
    const names = files.map((f) => path.relative(out, path.join(f.parentPath, f.name))).sort();
    expect(names).toEqual([
      "metrics.json", "models/gpu-a.onnx", "models/gpu-b.onnx", "models/manifest.json",
      "models/parity/gpu-a.json", "models/parity/gpu-b.json", "run.log", "train.log",
    ]);
    for (const name of names) expect((await stat(path.join(out, name))).size).toBeLessThanOrEqual(16 * MIB);
    const metrics = JSON.parse(await readFile(path.join(out, "metrics.json"), "utf8"));
    expect(Object.keys(metrics.members)).toEqual(["gpu-a", "gpu-b"]);
    expect(metrics.ensemble.map.images).toBe(2);
    // ...and a multi-member manifest the runtime loads and runs.
    const { manifest, segmenters } = await loadModels({ modelDir: path.join(out, "models"), profiles: ["fast", "accurate"] });
    expect(manifest.profiles.accurate).toMatchObject({ members: ["gpu-a", "gpu-b"], tta: ["none", "horizontal", "vertical"] });
    expect(manifest.profiles.fast.members).toHaveLength(1);
    const image = await decodeImage(await readFile(path.join(TRAIN_IMAGES, "0030fd0e6378.png")));
    const { instances } = await segmenters.accurate!.segment(image);
    expect(Array.isArray(instances)).toBe(true);
    await rm(dir, { recursive: true, force: true });
  }, 600_000);
});
