/**
 * The model container image, built from model-container/Dockerfile with the repository root as its build
 * context. `cdk deploy` builds and pushes it (Docker needed there); `cdk synth` only stages the context.
 */
import { DockerImageAsset, Platform } from "aws-cdk-lib/aws-ecr-assets";
import { IgnoreMode } from "aws-cdk-lib";
import type { Construct } from "constructs";
import { GPU_RUNTIME } from "../gpu-runtime";
import { REPOSITORY_ROOT } from "../repository";

export const MODEL_DOCKERFILE = "model-container/Dockerfile";

/**
 * The only paths of the repository the image is built from: what the Dockerfile copies, and the Dockerfile.
 * The root's .dockerignore still applies (CDK reads it), but it keeps everything it does not name: with it
 * alone, every edit of functions/, infra/ or the README would change the image's hash, rebuild the image
 * and replace the endpoint's GPU instances on the next deploy. A test checks this list against the
 * Dockerfile's COPY instructions.
 */
export const MODEL_IMAGE_SOURCES = [
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "core",
  "inference",
  "plumbing",
  "model-container/src",
  "model-container/models",
  "model-container/serve",
  MODEL_DOCKERFILE,
] as const;

/**
 * @example
 * ```ts
 * const image = modelImage(this, "Image");
 * new CfnModel(this, "Model", { executionRoleArn, primaryContainer: { image: image.imageUri } });
 * ```
 */
export function modelImage(scope: Construct, id: string): DockerImageAsset {
  return new DockerImageAsset(scope, id, {
    directory: REPOSITORY_ROOT,
    file: MODEL_DOCKERFILE,
    // SageMaker's GPU instances are x86-64, whatever machine builds the image.
    platform: Platform.LINUX_AMD64,
    // The CUDA runtime the endpoint's inference AMI drives (gpu-runtime.ts), whatever the Dockerfile's default.
    buildArgs: { CUDA_IMAGE: GPU_RUNTIME.cudaImage },
    ignoreMode: IgnoreMode.DOCKER,
    exclude: ["*", ...MODEL_IMAGE_SOURCES.map((source) => `!${source}`)],
  });
}
