/**
 * One ensemble member run by onnxruntime-node ({@link OnnxMember}): the only module that imports the
 * runtime. The domain sees it as a ModelMember (core/segmentation/model-member.ts).
 */
import * as ort from "onnxruntime-node";
import type { ModelInput } from "../core/image/normalize";
import type { MemberDetections, ModelMember } from "../core/segmentation/model-member";
import type { Detections } from "../core/types";
import { ModelUnavailableError } from "../core/errors";
import type { ExecutionProviderChoice, GraphPrecision } from "./types";

export interface OnnxMemberOptions {
  readonly name: string;
  readonly weight: number;
  readonly maskSize: number;
  readonly executionProvider: ExecutionProviderChoice;
  /** Threads per inference; default: onnxruntime's choice (all cores). */
  readonly threads?: number;
}

/**
 * A member's graphs (ONNX bytes, already checked against the manifest's sha256): the detector and the mask
 * head, or one combined graph (exports from before the split, which compute every detection's mask). An int8
 * detector or mask head, when given, replaces its float32 one on the CPU.
 */
export type MemberGraphs =
  | {
      readonly detector: Uint8Array;
      readonly masks: Uint8Array;
      readonly detectorInt8?: Uint8Array;
      readonly masksInt8?: Uint8Array;
    }
  | { readonly combined: Uint8Array };

const DETECTIONS = ["boxes", "scores", "labels"] as const;

/**
 * An ensemble member backed by onnxruntime-node: the only module that touches the runtime. A member is two
 * graphs (model-container/README.md, "The model": the ONNX contract): the detector (image -> boxes, scores, labels and
 * feature maps) and the mask head (feature maps, boxes, labels -> box-frame masks), run only on the
 * detections the segmenter keeps. A combined graph from before the split still runs (every mask computed).
 * It checks names, types and shapes against that contract and converts the outputs to domain types.
 */
export class OnnxMember implements ModelMember {
  private constructor(
    /** The detector, or the combined graph when there is no mask head. */
    private readonly detector: ort.InferenceSession,
    private readonly maskHead: ort.InferenceSession | undefined,
    /** The detector outputs the mask head reads (feature maps); with a combined graph, its `masks`. */
    private readonly features: readonly string[],
    private readonly options: OnnxMemberOptions,
    /** The execution provider the sessions actually use. */
    readonly executionProvider: "cuda" | "cpu",
    /** The detector running: the member's int8 one (on the CPU, when it has one) or the float32 one. */
    readonly detectorPrecision: GraphPrecision,
    /** The mask head running, likewise (a combined graph's masks are float32). */
    readonly masksPrecision: GraphPrecision,
  ) {}

  get name(): string {
    return this.options.name;
  }

  get weight(): number {
    return this.options.weight;
  }

  static async load(graphs: MemberGraphs, options: OnnxMemberOptions): Promise<OnnxMember> {
    const providers: ("cuda" | "cpu")[] =
      options.executionProvider === "auto" ? ["cuda", "cpu"] : [options.executionProvider];
    const errors: string[] = [];
    for (const provider of providers) {
      const sessions: ort.InferenceSession[] = [];
      try {
        const sessionOptions: ort.InferenceSession.SessionOptions = {
          executionProviders: [provider],
          graphOptimizationLevel: "all",
          ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
        };
        const run = graphsRun(graphs, provider);
        for (const [index, graph] of run.entries()) {
          // The CPU arena keeps a session's largest buffers for the life of the process. A detector's are the
          // same image after image (one tile size), and taking fresh pages from the system at each run cost it
          // more time than the arena costs in memory (bench/README.md); a mask head's (or a combined graph's)
          // follow the number of cells, so they go back to the system after each image.
          const enableCpuMemArena = index === 0 && run.length === 2;
          sessions.push(await ort.InferenceSession.create(graph, { ...sessionOptions, enableCpuMemArena }));
        }
        const [detector, maskHead] = sessions;
        const features = maskHead
          ? checkSignature(detector, maskHead, options.name)
          : checkCombinedSignature(detector, options.name);
        const precision = (graph: Uint8Array | undefined, int8: Uint8Array | undefined) =>
          int8 !== undefined && graph === int8 ? "int8" : "float32";
        const [detectorInt8, masksInt8] = "combined" in graphs ? [] : [graphs.detectorInt8, graphs.masksInt8];
        return new OnnxMember(
          detector,
          maskHead,
          features,
          options,
          provider,
          precision(run[0], detectorInt8),
          precision(run[1], masksInt8),
        );
      } catch (error) {
        await Promise.all(sessions.map((s) => s.release()));
        if (error instanceof ModelUnavailableError) throw error;
        errors.push(`${provider}: ${(error as Error).message}`);
      }
    }
    throw new ModelUnavailableError(`cannot load member "${options.name}": ${errors.join("; ")}`);
  }

  async detect(input: ModelInput): Promise<MemberDetections> {
    const image = new ort.Tensor("float32", input.data, [3, input.paddedHeight, input.paddedWidth]);
    const out = await this.detector.run({ image });
    const count = out.scores.dims[0];
    expectShape(out.boxes, "float32", [count, 4]);
    expectShape(out.scores, "float32", [count]);
    expectShape(out.labels, "int64", [count]);
    const boxes = out.boxes.data as Float32Array;
    const scores = out.scores.data as Float32Array;
    const labels64 = out.labels.data as BigInt64Array;
    const features = Object.fromEntries(this.features.map((name) => [name, out[name]]));
    for (const [name, tensor] of Object.entries(out)) if (!this.features.includes(name)) tensor.dispose();
    let released = false;
    return {
      boxes,
      scores,
      labels: Int32Array.from(labels64, Number),
      masks: async (indices) => {
        if (released) throw new Error(`member "${this.name}": masks asked after release`);
        if (!this.maskHead) return this.pickMasks(features.masks, count, indices);
        return this.masks(
          this.maskHead,
          features,
          indices.map((i) => boxes.subarray(i * 4, i * 4 + 4)),
          indices.map((i) => labels64[i]),
        );
      },
      release: () => {
        released = true;
        for (const tensor of Object.values(features)) tensor.dispose();
      },
    };
  }

  /** Every detection with its mask: the whole contract in one call (the parity test compares it with PyTorch). */
  async infer(input: ModelInput): Promise<Detections> {
    const found = await this.detect(input);
    try {
      const masks = await found.masks(Array.from(found.scores.keys()));
      return { boxes: found.boxes, scores: found.scores, labels: found.labels, masks, maskSize: this.options.maskSize };
    } finally {
      found.release();
    }
  }

  private async masks(
    maskHead: ort.InferenceSession,
    features: Record<string, ort.Tensor>,
    boxes: Float32Array[],
    labels: bigint[],
  ): Promise<Float32Array> {
    const size = this.options.maskSize;
    const count = boxes.length;
    if (count === 0) return new Float32Array(0);
    const flatBoxes = new Float32Array(count * 4);
    for (const [i, box] of boxes.entries()) flatBoxes.set(box, i * 4);
    const out = await maskHead.run({
      ...features,
      boxes: new ort.Tensor("float32", flatBoxes, [count, 4]),
      labels: new ort.Tensor("int64", BigInt64Array.from(labels), [count]),
    });
    expectShape(out.masks, "float32", [count, 1, size, size]);
    return out.masks.data as Float32Array;
  }

  /** The rows `indices` of a combined graph's masks of all `count` detections. */
  private pickMasks(all: ort.Tensor, count: number, indices: readonly number[]): Float32Array {
    const size = this.options.maskSize;
    expectShape(all, "float32", [count, 1, size, size]);
    const area = size * size;
    const data = all.data as Float32Array;
    const picked = new Float32Array(indices.length * area);
    for (const [k, i] of indices.entries()) picked.set(data.subarray(i * area, (i + 1) * area), k * area);
    return picked;
  }

  async release(): Promise<void> {
    await Promise.all([this.detector.release(), this.maskHead?.release()]);
  }
}

/**
 * The graphs a provider runs, detector first, then the mask head: on the CPU, the int8 one of each when the
 * member has it (its QLinearConv kernels are the CPU's; CUDA runs the float graphs); or the combined graph.
 */
function graphsRun(graphs: MemberGraphs, provider: "cuda" | "cpu"): Uint8Array[] {
  if ("combined" in graphs) return [graphs.combined];
  const cpu = provider === "cpu";
  return [(cpu && graphs.detectorInt8) || graphs.detector, (cpu && graphs.masksInt8) || graphs.masks];
}

/** The mask head's feature inputs, once both graphs are checked against the contract. */
function checkSignature(detector: ort.InferenceSession, maskHead: ort.InferenceSession, name: string): string[] {
  const features = maskHead.inputNames.filter((input) => input !== "boxes" && input !== "labels");
  const problems: string[] = [];
  if (detector.inputNames.length !== 1 || detector.inputNames[0] !== "image") {
    problems.push(`the detector's inputs are [${detector.inputNames}], expected [image]`);
  }
  if (!DETECTIONS.every((output) => detector.outputNames.includes(output))) {
    problems.push(`the detector's outputs [${detector.outputNames}] lack one of ${DETECTIONS.join(", ")}`);
  }
  if (
    !maskHead.inputNames.includes("boxes") ||
    !maskHead.inputNames.includes("labels") ||
    !features.every((f) => detector.outputNames.includes(f))
  ) {
    problems.push(
      `the mask head's inputs [${maskHead.inputNames}] are not boxes, labels and detector outputs ` +
        `[${detector.outputNames}]`,
    );
  }
  if (maskHead.outputNames.length !== 1 || maskHead.outputNames[0] !== "masks") {
    problems.push(`the mask head's outputs are [${maskHead.outputNames}], expected [masks]`);
  }
  if (problems.length) {
    throw new ModelUnavailableError(`member "${name}" does not follow the model contract: ${problems.join("; ")}`);
  }
  return features;
}

/** A combined graph (exports from before the split): image -> boxes, scores, labels, masks. */
function checkCombinedSignature(graph: ort.InferenceSession, name: string): string[] {
  const outputs = [...DETECTIONS, "masks"];
  if (
    graph.inputNames.length !== 1 ||
    graph.inputNames[0] !== "image" ||
    !outputs.every((o) => graph.outputNames.includes(o))
  ) {
    throw new ModelUnavailableError(
      `member "${name}" does not follow the model contract: inputs [${graph.inputNames}], outputs ` +
        `[${graph.outputNames}]; ` +
        `expected input "image" and outputs ${outputs.join(", ")}`,
    );
  }
  return ["masks"];
}

function expectShape(tensor: ort.Tensor, type: string, dims: number[]): void {
  if (tensor.type !== type || tensor.dims.length !== dims.length || tensor.dims.some((d, i) => d !== dims[i])) {
    throw new Error(`model output is ${tensor.type}[${tensor.dims}], expected ${type}[${dims}]`);
  }
}
