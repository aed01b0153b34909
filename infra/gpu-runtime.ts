/**
 * The GPU software the endpoint runs on, as one pair: the model container's CUDA runtime and the SageMaker
 * inference AMI whose NVIDIA driver runs it. SageMaker's default AMI for g4dn and g5 endpoints ships driver
 * 470 (CUDA 11.4), on which onnxruntime-node's CUDA 12 provider cannot load, and its newer AMIs mount no
 * CUDA compatibility libraries: the driver itself must support the container's CUDA. The 3-1 AMI's driver
 * 550 is CUDA 12.4, the container's runtime version. Change both together (see AWS's table of inference
 * GPU drivers: https://docs.aws.amazon.com/sagemaker/latest/dg/inference-gpu-drivers.html).
 */
export const GPU_RUNTIME = {
  /** The Dockerfile's `CUDA_IMAGE` (model-image.ts passes it as the build argument). */
  cudaImage: "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04",
  cudaVersion: "12.4",
  /** The production variant's `InferenceAmiVersion`. */
  inferenceAmiVersion: "al2-ami-sagemaker-inference-gpu-3-1",
  nvidiaDriver: "550",
  /** GPU instance families AWS's inference AMIs support; `instanceType` must be one of them. */
  instanceFamilies: ["g4dn", "g5", "g6", "p4d", "p4de", "p5"],
} as const;

/** `ml.g4dn.xlarge` -> `g4dn`. */
export function instanceFamily(instanceType: string): string {
  return instanceType.split(".")[1] ?? "";
}
