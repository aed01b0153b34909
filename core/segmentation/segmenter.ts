import { flipModelInput, modelInput, type ModelInput } from "../image/normalize";
import {
  fuseBoxes,
  fuseMasks,
  type FusedBoxes,
  type WeightedBoxes,
  type WeightedDetections,
} from "../postprocess/fusion";
import { candidatesToInstances, selectCandidates } from "../postprocess/instances";
import type { Manifest, Postprocess, Profile, TtaVariant } from "../schemas/manifest";
import type { GrayImage, Instance } from "../types";
import type { MemberDetections, ModelMember } from "./model-member";

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

const FLIPS: Record<TtaVariant, Flips> = {
  none: { horizontal: false, vertical: false },
  horizontal: { horizontal: true, vertical: false },
  vertical: { horizontal: false, vertical: true },
  both: { horizontal: true, vertical: true },
};

/**
 * Runs a profile of the ensemble on whole images: normalise, detect with every member under every TTA
 * variant, map each result back to the image frame, fuse, compute the masks of the cells kept, and
 * post-process into disjoint instances.
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
   * Detect with every member under every TTA variant, fuse the boxes, keep the voted type's cells above its
   * score threshold, and only then compute and fuse their masks.
   * @param postprocess - thresholds to use instead of the profile's (callers validate their bounds)
   */
  async segment(image: GrayImage, postprocess: Postprocess = this.postprocess): Promise<Segmentation> {
    const started = performance.now();
    const input = modelInput(image, this.manifest.input);
    const normalized = performance.now();
    const sources = await this.detectAll(input, image);
    try {
      const detected = performance.now();
      const fused = fuseBoxes(sources, postprocess.fusionIou);
      const candidates = selectCandidates(fused, postprocess);
      const selected = performance.now();
      const masks = candidates ? await this.cellMasks(sources, fused, candidates.indices) : new Float32Array(0);
      const masked = performance.now();
      const instances = candidates
        ? candidatesToInstances(
            candidates,
            fused,
            masks,
            this.manifest.maskSize,
            image.width,
            image.height,
            postprocess,
          )
        : [];
      return {
        instances,
        timings: {
          normalizeMs: normalized - started,
          inferenceMs: detected - normalized + (masked - selected),
          postprocessMs: selected - detected + (performance.now() - masked),
        },
      };
    } finally {
      for (const source of sources) source.found.release();
    }
  }

  /** The profile's post-processing: its own tuned thresholds where the manifest has them, else the manifest's. */
  get postprocess(): Postprocess {
    return this.manifest.profiles[this.profile].postprocess ?? this.manifest.postprocess;
  }

  /**
   * Every member under every TTA variant with every detection's mask, each mapped back to the image frame,
   * not yet fused: what thresholds are tuned on (fuseDetections + detectionsToInstances on these give what
   * `segment` gives, which computes only the masks it keeps).
   */
  async detectSources(image: GrayImage): Promise<{ sources: WeightedDetections[]; timings: StageTimings }> {
    const started = performance.now();
    const input = modelInput(image, this.manifest.input);
    const normalized = performance.now();
    const found = await this.detectAll(input, image);
    try {
      const sources: WeightedDetections[] = [];
      for (const { boxes, scores, labels, weight, flips, found: detections } of found) {
        const masks = flipMasks(await detections.masks(Array.from(scores.keys())), this.manifest.maskSize, flips);
        sources.push({ detections: { boxes, scores, labels, masks, maskSize: this.manifest.maskSize }, weight });
      }
      return {
        sources,
        timings: { normalizeMs: normalized - started, inferenceMs: performance.now() - normalized, postprocessMs: 0 },
      };
    } finally {
      for (const source of found) source.found.release();
    }
  }

  /** Detections (no masks yet) of every member under every TTA variant, boxes in the image frame. */
  private async detectAll(input: ModelInput, image: GrayImage): Promise<Source[]> {
    const sources: Source[] = [];
    try {
      for (const member of this.members) {
        for (const variant of this.tta) {
          const flips = FLIPS[variant];
          const found = await member.detect(flipInput(input, flips));
          sources.push({
            found,
            flips,
            boxes: boxesToImageFrame(found.boxes, input, flips, image),
            scores: found.scores,
            labels: found.labels,
            weight: member.weight,
          });
        }
      }
      return sources;
    } catch (error) {
      for (const source of sources) source.found.release();
      throw error;
    }
  }

  /** The fused masks of the cells `cells`: each source computes the masks of its own detections in them. */
  private async cellMasks(
    sources: readonly Source[],
    fused: FusedBoxes,
    cells: readonly number[],
  ): Promise<Float32Array> {
    const maskSize = this.manifest.maskSize;
    const maskArea = maskSize * maskSize;
    // Per source: detection index -> its row among that source's computed masks.
    const rows = sources.map(() => new Map<number, number>());
    for (const cell of cells) {
      for (const { source, index } of fused.parts[cell])
        if (!rows[source].has(index)) rows[source].set(index, rows[source].size);
    }
    const computed: Float32Array[] = [];
    for (const [s, source] of sources.entries()) {
      computed.push(
        rows[s].size
          ? flipMasks(await source.found.masks([...rows[s].keys()]), maskSize, source.flips)
          : new Float32Array(0),
      );
    }
    return fuseMasks(fused, cells, maskSize, ({ source, index }) => {
      const row = rows[source].get(index)!;
      return computed[source].subarray(row * maskArea, (row + 1) * maskArea);
    });
  }
}

interface Flips {
  readonly horizontal: boolean;
  readonly vertical: boolean;
}

/** One member under one TTA variant: its detections (boxes mapped to the image frame) and what computes their masks. */
interface Source extends WeightedBoxes {
  readonly found: MemberDetections;
  readonly flips: Flips;
}

function flipInput(input: ModelInput, flips: Flips): ModelInput {
  let flipped = input;
  if (flips.horizontal) flipped = flipModelInput(flipped, "horizontal");
  if (flips.vertical) flipped = flipModelInput(flipped, "vertical");
  return flipped;
}

/**
 * Model-input frame -> original image frame: undo the flips, divide by the input scale and clip to the image, as the
 * Python validation does.
 */
function boxesToImageFrame(modelBoxes: Float32Array, input: ModelInput, flips: Flips, image: GrayImage): Float32Array {
  const boxes = new Float32Array(modelBoxes.length);
  const clip = (value: number, limit: number) => Math.min(Math.max(value, 0), limit);
  for (let i = 0; i < modelBoxes.length; i += 4) {
    let [x1, y1, x2, y2] = modelBoxes.subarray(i, i + 4);
    if (flips.horizontal) [x1, x2] = [input.scaledWidth - x2, input.scaledWidth - x1];
    if (flips.vertical) [y1, y2] = [input.scaledHeight - y2, input.scaledHeight - y1];
    boxes[i] = clip(x1 / input.scale, image.width);
    boxes[i + 1] = clip(y1 / input.scale, image.height);
    boxes[i + 2] = clip(x2 / input.scale, image.width);
    boxes[i + 3] = clip(y2 / input.scale, image.height);
  }
  return boxes;
}

/** Box-frame masks of a flipped input, flipped back like their boxes. */
function flipMasks(masks: Float32Array, size: number, flips: Flips): Float32Array {
  if (!flips.horizontal && !flips.vertical) return masks;
  const flipped = new Float32Array(masks.length);
  for (let offset = 0; offset < masks.length; offset += size * size) {
    for (let y = 0; y < size; y++) {
      const fromY = flips.vertical ? size - 1 - y : y;
      for (let x = 0; x < size; x++) {
        const fromX = flips.horizontal ? size - 1 - x : x;
        flipped[offset + y * size + x] = masks[offset + fromY * size + fromX];
      }
    }
  }
  return flipped;
}
