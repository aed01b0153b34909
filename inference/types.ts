/**
 * What callers of the ONNX runtime choose, in a module of its own: the CLI's options, the model server's
 * configuration (which infra/ reads too) and the bench name these without loading onnxruntime-node.
 */

/** Where the member runs: `auto` tries CUDA (the GPU container's build of onnxruntime-node) then the CPU. */
export const EXECUTION_PROVIDERS = ["auto", "cuda", "cpu"] as const;
export type ExecutionProviderChoice = (typeof EXECUTION_PROVIDERS)[number];

/**
 * Which of a member's detectors, or of its mask heads, runs: its int8 one (the CPU's, when it has one) or its
 * float32 one.
 */
export type GraphPrecision = "int8" | "float32";
