import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MODEL_DOCKERFILE, MODEL_IMAGE_SOURCES } from "../../infra/constructs/model-image";
import { GPU_RUNTIME } from "../../infra/gpu-runtime";
import { repositoryPath } from "../../infra/repository";
import { createApp } from "./synth";

/** The sources of the Dockerfile's COPY instructions that read the build context (not another stage). */
function copiedFromContext(dockerfile: string): string[] {
  return dockerfile
    .split("\n")
    .filter((line) => /^COPY\s/.test(line) && !/--from=/.test(line))
    .flatMap((line) => {
      const words = line
        .split(/\s+/)
        .slice(1)
        .filter((word) => !word.startsWith("--"));
      return words.slice(0, -1);
    });
}

/** Every file under a directory, relative to it. */
function filesUnder(directory: string): string[] {
  return readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(directory, path.join(entry.parentPath, entry.name)));
}

describe("model image", () => {
  it("builds from exactly what the Dockerfile copies", () => {
    // Prepare
    const copied = copiedFromContext(readFileSync(repositoryPath(MODEL_DOCKERFILE), "utf8"));

    // Assess
    expect(copied).toContain("core");
    expect([...new Set([...copied, MODEL_DOCKERFILE])].sort()).toEqual([...MODEL_IMAGE_SOURCES].sort());
  });

  it("stages only those sources as the build context, without node_modules, .git or cdk.out", () => {
    // Prepare
    const { app, stack } = createApp({}, { stageAssets: true });

    // Act
    const assembly = app.synth();

    // Assess
    const staged = path.join(assembly.directory, `asset.${stack.endpoint.image.assetHash}`);
    const files = filesUnder(staged);
    const topLevel = new Set(
      files.map((file) =>
        file.startsWith("model-container/") ? file.split("/").slice(0, 2).join("/") : file.split("/")[0],
      ),
    );
    expect([...topLevel].sort()).toEqual([...MODEL_IMAGE_SOURCES, ".dockerignore"].sort());
    expect(files.some((file) => /(^|\/)(node_modules|\.git|cdk\.out)\//.test(file))).toBe(false);
    expect(files).toContain("model-container/models/manifest.json");
    // Built on the CUDA runtime that the endpoint's inference AMI drives, the Dockerfile's default too.
    const assets = JSON.parse(readFileSync(path.join(assembly.directory, `${stack.artifactId}.assets.json`), "utf8"));
    const image = Object.values(
      assets.dockerImages as Record<string, { source: { dockerBuildArgs?: Record<string, string> } }>,
    )[0];
    expect(image.source.dockerBuildArgs).toEqual({ CUDA_IMAGE: GPU_RUNTIME.cudaImage });
    expect(readFileSync(repositoryPath(MODEL_DOCKERFILE), "utf8")).toContain(
      `ARG CUDA_IMAGE=${GPU_RUNTIME.cudaImage}\n`,
    );
  });

  it("pairs the container's CUDA with the inference AMI whose driver supports it", () => {
    expect(GPU_RUNTIME).toMatchObject({
      inferenceAmiVersion: "al2-ami-sagemaker-inference-gpu-3-1",
      nvidiaDriver: "550",
      cudaVersion: "12.4",
    });
    expect(GPU_RUNTIME.cudaImage.startsWith(`nvidia/cuda:${GPU_RUNTIME.cudaVersion}.`)).toBe(true);
  });
});
