/**
 * The models on disk: where they are (SageMaker's model data, else the ones committed with the code), the
 * manifest that describes them, and loading the members a profile needs, each graph checked against the
 * manifest's sha256. The CLI, the bench, the validation script and the model server load models here.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ModelUnavailableError } from "../core/errors";
import { manifestSchema, type Manifest, type Profile } from "../core/schemas/manifest";
import { Segmenter } from "../core/segmentation/segmenter";
import { OnnxMember } from "./onnx-member";
import type { ExecutionProviderChoice } from "./types";

/** The models baked into the repository (and the container image). */
export const BUNDLED_MODEL_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "model-container",
  "models",
);
/** Where SageMaker unpacks the endpoint's model data. */
export const SAGEMAKER_MODEL_DIR = "/opt/ml/model";

/** SageMaker's model data when present, else the bundled models. */
export function defaultModelDir(): string {
  return existsSync(path.join(SAGEMAKER_MODEL_DIR, "manifest.json")) ? SAGEMAKER_MODEL_DIR : BUNDLED_MODEL_DIR;
}

/** Reads and validates `manifest.json`; every failure names the directory and what is wrong. */
export async function readManifest(modelDir: string): Promise<Manifest> {
  const file = path.join(modelDir, "manifest.json");
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new ModelUnavailableError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new ModelUnavailableError(`invalid ${file}: ${problems}`);
  }
  return parsed.data;
}

export interface LoadOptions {
  readonly modelDir?: string;
  /** The profiles to serve; only the members they use are loaded. */
  readonly profiles: readonly Profile[];
  readonly executionProvider?: ExecutionProviderChoice;
  readonly threads?: number;
  /**
   * Run the float32 detector and mask head on the CPU too, not a member's int8 ones (the exact exported graphs).
   * @default false
   */
  readonly float32?: boolean;
}

export interface LoadedModels {
  readonly manifest: Manifest;
  readonly manifestSha256: string;
  readonly segmenters: Partial<Record<Profile, Segmenter>>;
  readonly members: readonly OnnxMember[];
}

/**
 * Loads the members a profile needs, refusing any file whose sha256 differs from the manifest's (a
 * half-copied or swapped model must fail at start, not produce quietly wrong cells).
 * @example
 * const { segmenters } = await loadModels({ profiles: ["fast"] });
 */
export async function loadModels(options: LoadOptions): Promise<LoadedModels> {
  const modelDir = options.modelDir ?? defaultModelDir();
  const manifest = await readManifest(modelDir);
  const manifestBytes = await readFile(path.join(modelDir, "manifest.json"));
  const wanted = new Set(options.profiles.flatMap((profile) => manifest.profiles[profile].members));
  const float32 = options.float32 ?? false;
  const members = await Promise.all(
    manifest.members
      .filter((m) => wanted.has(m.name))
      .map(async (member) => {
        const { graphs } = member;
        const bytes =
          "combined" in graphs
            ? { combined: await readGraph(modelDir, graphs.combined) }
            : {
                detector: await readGraph(modelDir, graphs.detector),
                masks: await readGraph(modelDir, graphs.masks),
                ...(graphs.detectorInt8 && !float32
                  ? { detectorInt8: await readGraph(modelDir, graphs.detectorInt8) }
                  : {}),
                ...(graphs.masksInt8 && !float32 ? { masksInt8: await readGraph(modelDir, graphs.masksInt8) } : {}),
              };
        return OnnxMember.load(bytes, {
          name: member.name,
          weight: member.weight,
          maskSize: manifest.maskSize,
          executionProvider: options.executionProvider ?? "cpu",
          threads: options.threads,
        });
      }),
  );
  return {
    manifest,
    manifestSha256: sha256(manifestBytes),
    segmenters: Object.fromEntries(
      options.profiles.map((profile) => [profile, new Segmenter(manifest, members, profile)]),
    ),
    members,
  };
}

/** A graph's bytes, refused when its sha256 is not the manifest's. */
async function readGraph(modelDir: string, graph: { file: string; sha256: string }): Promise<Buffer> {
  const file = path.join(modelDir, graph.file);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new ModelUnavailableError(`cannot read model file ${file}: ${(error as Error).message}`, { cause: error });
  }
  const digest = sha256(bytes);
  if (digest !== graph.sha256) {
    throw new ModelUnavailableError(`${file} has sha256 ${digest}, but the manifest expects ${graph.sha256}`);
  }
  return bytes;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
