import type { ModelInput } from "../image/normalize";

/**
 * What a member found in one input, in that input's pixel frame, before any mask: masks are computed
 * afterwards for the detections post-processing keeps (the mask head is a large share of a member's time,
 * and most detections fall below the score threshold).
 */
export interface MemberDetections {
  /** [N, 4] x1, y1, x2, y2. */
  readonly boxes: Float32Array;
  readonly scores: Float32Array;
  /** 1-based class ids, see CELL_TYPES. */
  readonly labels: Int32Array;
  /** [K, M, M] box-frame mask probabilities of the detections `indices`, in that order. */
  masks(indices: readonly number[]): Promise<Float32Array>;
  /** Frees what the member keeps for `masks` (the input's feature maps). */
  release(): void;
}

/**
 * One ensemble member as the segmenter sees it: a model that takes the normalised [3, H, W] input. The
 * onnxruntime implementation lives in inference/onnx-member.ts; the domain code never imports a
 * runtime.
 */
export interface ModelMember {
  readonly name: string;
  readonly weight: number;
  detect(input: ModelInput): Promise<MemberDetections>;
}
