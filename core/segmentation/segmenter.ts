import { flipModelInput, modelInput, type ModelInput } from "../image/normalize";
import { fuseDetections, type WeightedDetections } from "../postprocess/fusion";
import { detectionsToInstances } from "../postprocess/instances";
import type { Manifest, Postprocess, Profile, TtaVariant } from "../schemas/manifest";
import type { Detections, GrayImage, Instance } from "../types";
import type { ModelMember } from "./model-member";

/** Milliseconds spent per stage for one image. */
export interface StageTimings {
  normalizeMs: number;
  inferenceMs: number;
  postprocessMs: number;
}

export interface Segmentation {
  readonly instances: Instance[];
  readonly timings: StageTimings;
}

const FLIPS: Record<TtaVariant, { horizontal: boolean; vertical: boolean }> = {
  none: { horizontal: false, vertical: false },
  horizontal: { horizontal: true, vertical: false },
  vertical: { horizontal: false, vertical: true },
  both: { horizontal: true, vertical: true },
};

/**
 * Runs a profile of the ensemble on whole images: normalise, infer every member under every TTA variant,
 * map each result back to the image frame, fuse, and post-process into disjoint instances.
 * @example
 * const segmenter = new Segmenter(manifest, members, "fast");
 * const { instances } = await segmenter.segment(image);
 */
export class Segmenter {
  private readonly members: readonly ModelMember[];
  private readonly tta: readonly TtaVariant[];

  constructor(
    private readonly manifest: Manifest,
    members: readonly ModelMember[],
    readonly profile: Profile,
  ) {
    const wanted = manifest.profiles[profile].members;
    this.members = wanted.map((name) => {
      const member = members.find((m) => m.name === name);
      if (!member) throw new Error(`profile "${profile}" needs member "${name}", which was not loaded`);
      return member;
    });
    this.tta = manifest.profiles[profile].tta;
  }

  /**
   * @param postprocess - thresholds to use instead of the profile's (callers validate their bounds)
   */
  async segment(image: GrayImage, postprocess: Postprocess = this.postprocess): Promise<Segmentation> {
    const { detections, timings } = await this.detect(image);
    const started = performance.now();
    const instances = detectionsToInstances(detections, image.width, image.height, postprocess);
    return { instances, timings: { ...timings, postprocessMs: timings.postprocessMs + performance.now() - started } };
  }

  /** The profile's post-processing: its own tuned thresholds where the manifest has them, else the manifest's. */
  get postprocess(): Postprocess {
    return this.manifest.profiles[this.profile].postprocess ?? this.manifest.postprocess;
  }

  /**
   * Every member under every TTA variant, mapped back to the image frame and fused: the detections that
   * post-processing turns into instances (exposed so thresholds can be tuned on them).
   */
  async detect(image: GrayImage): Promise<{ detections: Detections; timings: StageTimings }> {
    const { sources, timings } = await this.detectSources(image);
    const started = performance.now();
    const detections = fuseDetections(sources, this.postprocess.fusionIou);
    return { detections, timings: { ...timings, postprocessMs: timings.postprocessMs + performance.now() - started } };
  }

  /** Every member under every TTA variant, each mapped back to the image frame, not yet fused. */
  async detectSources(image: GrayImage): Promise<{ sources: WeightedDetections[]; timings: StageTimings }> {
    const started = performance.now();
    const input = modelInput(image, this.manifest.input);
    const normalized = performance.now();

    const sources: WeightedDetections[] = [];
    for (const member of this.members) {
      for (const variant of this.tta) {
        const flips = FLIPS[variant];
        const detections = await member.infer(flipInput(input, flips));
        sources.push({ detections: toImageFrame(detections, input, flips, image), weight: member.weight });
      }
    }
    return { sources, timings: { normalizeMs: normalized - started, inferenceMs: performance.now() - normalized, postprocessMs: 0 } };
  }
}

function flipInput(input: ModelInput, flips: { horizontal: boolean; vertical: boolean }): ModelInput {
  let flipped = input;
  if (flips.horizontal) flipped = flipModelInput(flipped, "horizontal");
  if (flips.vertical) flipped = flipModelInput(flipped, "vertical");
  return flipped;
}

/**
 * Model-input frame -> original image frame: undo the flips (boxes and box-frame masks), divide by the
 * input scale and clip to the image, as the Python validation does.
 */
function toImageFrame(
  detections: Detections,
  input: ModelInput,
  flips: { horizontal: boolean; vertical: boolean },
  image: GrayImage,
): Detections {
  const count = detections.scores.length;
  const boxes = new Float32Array(count * 4);
  const size = detections.maskSize;
  const masks = flips.horizontal || flips.vertical ? new Float32Array(detections.masks.length) : detections.masks;
  const clip = (value: number, limit: number) => Math.min(Math.max(value, 0), limit);
  for (let i = 0; i < count; i++) {
    let [x1, y1, x2, y2] = detections.boxes.subarray(i * 4, i * 4 + 4);
    if (flips.horizontal) [x1, x2] = [input.scaledWidth - x2, input.scaledWidth - x1];
    if (flips.vertical) [y1, y2] = [input.scaledHeight - y2, input.scaledHeight - y1];
    boxes[i * 4] = clip(x1 / input.scale, image.width);
    boxes[i * 4 + 1] = clip(y1 / input.scale, image.height);
    boxes[i * 4 + 2] = clip(x2 / input.scale, image.width);
    boxes[i * 4 + 3] = clip(y2 / input.scale, image.height);
    if (masks !== detections.masks) {
      const offset = i * size * size;
      for (let y = 0; y < size; y++) {
        const fromY = flips.vertical ? size - 1 - y : y;
        for (let x = 0; x < size; x++) {
          const fromX = flips.horizontal ? size - 1 - x : x;
          masks[offset + y * size + x] = detections.masks[offset + fromY * size + fromX];
        }
      }
    }
  }
  return { boxes, scores: detections.scores, labels: detections.labels, masks, maskSize: size };
}
