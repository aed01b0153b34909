import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ModelUnavailableError } from "../../../core/errors";
import { loadModels, readManifest } from "../../../inference/model-store";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A manifest whose one member's detector is `file` (its mask head: `masks.onnx`, same digest). */
function manifestFor(file: string, digest: string) {
  return {
    version: "test",
    classes: ["shsy5y", "astro", "cort"],
    input: { percentileLow: 0.5, percentileHigh: 99.5, mean: 0.5, std: 0.25, scale: 1.5, sizeDivisor: 32 },
    maskSize: 28,
    members: [
      {
        name: "m",
        graphs: { detector: { file, sha256: digest }, masks: { file: "masks.onnx", sha256: digest } },
        architecture: "x",
        trainingData: "x",
        training: {} as Record<string, unknown>,
      },
    ],
    postprocess: {
      scoreThresholds: { shsy5y: 0.3, astro: 0.4, cort: 0.5 },
      minAreas: { shsy5y: 50, astro: 100, cort: 50 },
      maskThreshold: 0.5,
      fusionIou: 0.55,
      minKeptFraction: 0,
    },
    profiles: { fast: { members: ["m"], tta: ["none"] }, accurate: { members: ["m"], tta: ["none", "horizontal"] } },
  };
}

async function modelDir(manifest: unknown, files: Record<string, Uint8Array> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "cellseg-models-"));
  await writeFile(path.join(dir, "manifest.json"), typeof manifest === "string" ? manifest : JSON.stringify(manifest));
  for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(dir, name), bytes);
  return dir;
}

describe("model store", () => {
  it("refuses a model file whose sha256 differs from the manifest's", async () => {
    // Prepare
    const bytes = new TextEncoder().encode("not the model the manifest names");
    const dir = await modelDir(manifestFor("m.onnx", "0".repeat(64)), { "m.onnx": bytes, "masks.onnx": bytes });

    // Act / Assess
    await expect(loadModels({ modelDir: dir, profiles: ["fast"] })).rejects.toThrow(
      /m\.onnx has sha256 [0-9a-f]{64}, but the manifest expects 0{64}/,
    );
  });

  it("fails with the path when a member file is missing", async () => {
    const dir = await modelDir(manifestFor("missing.onnx", "0".repeat(64)));
    await expect(loadModels({ modelDir: dir, profiles: ["fast"] })).rejects.toThrow(
      /cannot read model file .*missing\.onnx/,
    );
  });

  it("fails clearly when the file is not an ONNX model", async () => {
    const bytes = new TextEncoder().encode("garbage");
    const dir = await modelDir(manifestFor("m.onnx", sha256(bytes)), { "m.onnx": bytes, "masks.onnx": bytes });
    await expect(loadModels({ modelDir: dir, profiles: ["fast"] })).rejects.toBeInstanceOf(ModelUnavailableError);
  });

  it("names every problem of an invalid manifest", async () => {
    // Prepare
    const broken = manifestFor("m.onnx", "abc");
    broken.profiles.fast.members = ["nobody"];
    const dir = await modelDir(broken);

    // Act / Assess
    const reading = readManifest(dir);
    await expect(reading).rejects.toThrow(/members\.0\.graphs\.detector\.sha256/);
    await expect(reading).rejects.toThrow(/profiles\.fast: unknown member "nobody"/);
  });

  it("reads a member exported as one graph (before the detector / mask-head split) as a combined graph", async () => {
    // Prepare
    const current = manifestFor("m.onnx", "0".repeat(64));
    const { graphs: _, ...rest } = current.members[0];
    const dir = await modelDir({ ...current, members: [{ ...rest, file: "m.onnx", sha256: "1".repeat(64) }] });

    // Act
    const manifest = await readManifest(dir);

    // Assess
    expect(manifest.members[0].graphs).toEqual({ combined: { file: "m.onnx", sha256: "1".repeat(64) } });
    expect(manifest.members[0]).not.toHaveProperty("file");
  });

  it.each([
    ["detector", "detectorInt8", "m-int8.onnx"],
    ["mask head", "masksInt8", "masks-int8.onnx"],
  ] as const)("reads a member's int8 %s and checks its sha256 unless float32 is asked for", async (_, key, file) => {
    // Prepare
    const bytes = new TextEncoder().encode("garbage");
    const manifest = manifestFor("m.onnx", sha256(bytes));
    const withInt8 = {
      ...manifest,
      members: [
        {
          ...manifest.members[0],
          graphs: { ...manifest.members[0].graphs, [key]: { file, sha256: "0".repeat(64) } },
        },
      ],
    };
    const dir = await modelDir(withInt8, { "m.onnx": bytes, "masks.onnx": bytes, [file]: bytes });
    const escaped = file.replace(".", "\\.");

    // Act / Assess
    expect((await readManifest(dir)).members[0].graphs).toMatchObject({ [key]: { file } });
    await expect(loadModels({ modelDir: dir, profiles: ["fast"] })).rejects.toThrow(
      new RegExp(`${escaped} has sha256 [0-9a-f]{64}, but the manifest expects 0{64}`),
    );
    // Forced to float32, the int8 graph is not even read: what fails is the (garbage) float detector.
    const forced = loadModels({ modelDir: dir, profiles: ["fast"], float32: true });
    await expect(forced).rejects.toBeInstanceOf(ModelUnavailableError);
    await expect(forced).rejects.not.toThrow(file.replace(".onnx", ""));
  });

  it("fails clearly when manifest.json is not JSON", async () => {
    const dir = await modelDir("{ not json");
    await expect(readManifest(dir)).rejects.toThrow(/cannot read .*manifest\.json/);
  });

  it(
    "reads a manifest written before fusion had its own IoU: nmsIou is the fusion IoU, " +
      "no cell is dropped for overlap",
    async () => {
      // Prepare
      const legacy = manifestFor("m.onnx", "0".repeat(64));
      const { fusionIou: _, minKeptFraction: __, ...older } = legacy.postprocess;
      const dir = await modelDir({ ...legacy, postprocess: { ...older, nmsIou: 0.4 }, defaultProfile: undefined });

      // Act
      const manifest = await readManifest(dir);

      // Assess
      expect(manifest.postprocess).toMatchObject({ fusionIou: 0.4, minKeptFraction: 0 });
      expect(manifest.postprocess).not.toHaveProperty("nmsIou");
      expect(manifest.defaultProfile).toBe("fast");
    },
  );
});
