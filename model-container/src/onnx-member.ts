import * as ort from "onnxruntime-node";
import type { ModelInput } from "../../core/image/normalize";
import type { ModelMember } from "../../core/segmentation/model-member";
import type { Detections } from "../../core/types";
import { ModelUnavailableError } from "../../core/errors";

/** Where the member runs: `auto` tries CUDA (the GPU container's build of onnxruntime-node) then the CPU. */
export const EXECUTION_PROVIDERS = ["auto", "cuda", "cpu"] as const;
export type ExecutionProviderChoice = (typeof EXECUTION_PROVIDERS)[number];

export interface OnnxMemberOptions {
  readonly name: string;
  readonly weight: number;
  readonly maskSize: number;
  readonly executionProvider: ExecutionProviderChoice;
  /** Threads per inference; default: onnxruntime's choice (all cores). */
  readonly threads?: number;
}

/**
 * An ensemble member backed by onnxruntime-node: the only module that touches the runtime. It checks the
 * outputs' names, types and shapes against the model contract (docs/ARCHITECTURE.md) and converts them to
 * domain `Detections`.
 */
export class OnnxMember implements ModelMember {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly options: OnnxMemberOptions,
    /** The execution provider the session actually uses. */
    readonly executionProvider: "cuda" | "cpu",
  ) {}

  get name(): string {
    return this.options.name;
  }

  get weight(): number {
    return this.options.weight;
  }

  /** Loads a member from its ONNX bytes (already checked against the manifest's sha256). */
  static async load(model: Uint8Array, options: OnnxMemberOptions): Promise<OnnxMember> {
    const providers: ("cuda" | "cpu")[] =
      options.executionProvider === "auto" ? ["cuda", "cpu"] : [options.executionProvider];
    const errors: string[] = [];
    for (const provider of providers) {
      try {
        const session = await ort.InferenceSession.create(model, {
          executionProviders: [provider],
          graphOptimizationLevel: "all",
          ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
        });
        checkSignature(session, options.name);
        return new OnnxMember(session, options, provider);
      } catch (error) {
        if (error instanceof ModelUnavailableError) throw error;
        errors.push(`${provider}: ${(error as Error).message}`);
      }
    }
    throw new ModelUnavailableError(`cannot load member "${options.name}": ${errors.join("; ")}`);
  }

  async infer(input: ModelInput): Promise<Detections> {
    const image = new ort.Tensor("float32", input.data, [3, input.paddedHeight, input.paddedWidth]);
    const out = await this.session.run({ image });
    const count = out.scores.dims[0];
    const size = this.options.maskSize;
    expectShape(out.boxes, "float32", [count, 4]);
    expectShape(out.scores, "float32", [count]);
    expectShape(out.masks, "float32", [count, 1, size, size]);
    if (out.labels.dims.length !== 1 || out.labels.dims[0] !== count) {
      throw new Error(`member "${this.name}": labels has shape [${out.labels.dims}], expected [${count}]`);
    }
    const labels =
      out.labels.type === "int64"
        ? Int32Array.from(out.labels.data as BigInt64Array, Number)
        : Int32Array.from(out.labels.data as Int32Array);
    const detections = {
      boxes: out.boxes.data as Float32Array,
      scores: out.scores.data as Float32Array,
      labels,
      masks: out.masks.data as Float32Array,
      maskSize: size,
    };
    for (const tensor of Object.values(out)) tensor.dispose();
    return detections;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function checkSignature(session: ort.InferenceSession, name: string): void {
  const outputs = ["boxes", "scores", "labels", "masks"];
  if (session.inputNames.length !== 1 || session.inputNames[0] !== "image" || !outputs.every((o) => session.outputNames.includes(o))) {
    throw new ModelUnavailableError(
      `member "${name}" does not follow the model contract: inputs [${session.inputNames}], outputs [${session.outputNames}]; ` +
        `expected input "image" and outputs ${outputs.join(", ")}`,
    );
  }
}

function expectShape(tensor: ort.Tensor, type: string, dims: number[]): void {
  if (tensor.type !== type || tensor.dims.length !== dims.length || tensor.dims.some((d, i) => d !== dims[i])) {
    throw new Error(`model output is ${tensor.type}[${tensor.dims}], expected ${type}[${dims}]`);
  }
}
