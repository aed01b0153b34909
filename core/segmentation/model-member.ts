import type { ModelInput } from "../image/normalize";
import type { Detections } from "../types";

/**
 * One ensemble member as the segmenter sees it: a model that takes the normalised [3, H, W] input and
 * returns detections in that input's pixel frame. The onnxruntime implementation lives in
 * model-container/src/onnx-member.ts; the domain code never imports a runtime.
 */
export interface ModelMember {
  readonly name: string;
  readonly weight: number;
  infer(input: ModelInput): Promise<Detections>;
}
