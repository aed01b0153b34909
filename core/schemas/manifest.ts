import { z } from "zod";
import { CELL_TYPES } from "../types";

/**
 * `model-container/models/manifest.json`: the one description of the ensemble, written by the Python
 * export (`training/cellseg_train/export.py`) and read by every runtime.
 */

const perCellType = <T extends z.ZodType>(value: T) => z.object({ shsy5y: value, astro: value, cort: value });

const mapScoreSchema = z.object({
  map: z.number().min(0).max(1),
  mapPerType: z.record(z.string(), z.number().min(0).max(1)),
  images: z.number().int().positive(),
});

export const PROFILES = ["fast", "accurate"] as const;
export type Profile = (typeof PROFILES)[number];

export const TTA_VARIANTS = ["none", "horizontal", "vertical", "both"] as const;
export type TtaVariant = (typeof TTA_VARIANTS)[number];

export const inputNormalizationSchema = z.object({
  /** Percentile stretch to [0, 1] by the image's own percentiles (robust to exposure differences). */
  percentileLow: z.number().min(0).max(100),
  percentileHigh: z.number().min(0).max(100),
  /** Then (x - mean) / std, replicated to 3 channels. */
  mean: z.number(),
  std: z.number().positive(),
  /** Upscaling before the model: cells are small. */
  scale: z.number().positive().max(4),
  /** The model's input sides must be multiples of this (the runtime pads with zeros). */
  sizeDivisor: z.number().int().positive(),
});

/** Manifests written before fusion had its own IoU named it `nmsIou`, and dropped no cell for overlap. */
function upgradeLegacyPostprocess(value: unknown): unknown {
  if (typeof value !== "object" || value === null || !("nmsIou" in value) || "fusionIou" in value) return value;
  const { nmsIou, ...rest } = value as Record<string, unknown>;
  return { minKeptFraction: 0, ...rest, fusionIou: nmsIou };
}

const postprocessFields = z.object({
  /** Per cell type: detections scoring below are dropped (the image's type is a score-weighted vote). */
  scoreThresholds: perCellType(z.number().min(0).max(1)),
  /** Per cell type: instances smaller than this after overlap removal are dropped (pixels). */
  minAreas: perCellType(z.number().int().min(0)),
  /** Mask probability above which a pixel belongs to the cell. */
  maskThreshold: z.number().gt(0).lt(1),
  /** Box IoU above which detections from different members or TTA variants are the same cell (fusion). */
  fusionIou: z.number().gt(0).lt(1),
  /**
   * A cell left with less than this fraction of its pasted mask after higher-scoring cells took theirs is
   * dropped (a duplicate or a fragment of a cell already found), and takes no pixel.
   */
  minKeptFraction: z.number().min(0).lt(1),
});

export const postprocessSchema = z.preprocess(upgradeLegacyPostprocess, postprocessFields);

const graphSchema = z.object({
  file: z.string().regex(/^[\w.-]+\.onnx$/, "a file name inside the model directory"),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/**
 * A member's ONNX graphs (model-container/README.md, "The model": the ONNX contract): the detector and the mask head,
 * or, in manifests exported before the split, one graph (`combined`) that computes every detection's mask.
 */
const graphsSchema = z.union([
  z.object({
    /** image -> boxes, scores, labels and the feature maps the mask head reads. */
    detector: graphSchema,
    /** feature maps, boxes, labels -> box-frame masks, run on the detections post-processing keeps. */
    masks: graphSchema,
    /**
     * The detector with int8 (QDQ) convolutions, written by `training/cellseg_train/quantize.py`: the same
     * contract, run in place of `detector` on the CPU (faster there); CUDA runs `detector`.
     */
    detectorInt8: graphSchema.optional(),
    /**
     * The mask head with int8 (QDQ) convolutions, written by the same script: run in place of `masks` on the
     * CPU; CUDA runs `masks`.
     */
    masksInt8: graphSchema.optional(),
  }),
  z.object({ combined: graphSchema }),
]);

/** Manifests written before the detector / mask-head split named a member's one graph by `file` and `sha256`. */
function upgradeSingleGraphMember(value: unknown): unknown {
  if (typeof value !== "object" || value === null || !("file" in value) || "graphs" in value) return value;
  const { file, sha256, ...rest } = value as Record<string, unknown>;
  return { ...rest, graphs: { combined: { file, sha256 } } };
}

export const memberSchema = z.preprocess(
  upgradeSingleGraphMember,
  z.object({
    name: z.string().min(1),
    graphs: graphsSchema,
    architecture: z.string(),
    trainingData: z.string(),
    training: z.record(z.string(), z.unknown()),
    validation: mapScoreSchema.optional(),
    /** Relative weight in fusion. */
    weight: z.number().positive().default(1),
  }),
);

export const profileSchema = z.object({
  members: z.array(z.string()).min(1),
  tta: z.array(z.enum(TTA_VARIANTS)).min(1),
  /** Thresholds tuned for this profile (fusion changes the score scale); default: the manifest's. */
  postprocess: postprocessSchema.optional(),
  validation: mapScoreSchema.optional(),
});

export const manifestSchema = z
  .object({
    version: z.string().min(1),
    classes: z.tuple([z.literal(CELL_TYPES[0]), z.literal(CELL_TYPES[1]), z.literal(CELL_TYPES[2])]),
    input: inputNormalizationSchema,
    maskSize: z.number().int().positive(),
    members: z.array(memberSchema).min(1),
    postprocess: postprocessSchema,
    profiles: z.object({ fast: profileSchema, accurate: profileSchema }),
    /**
     * The profile a request or command that names none gets: the better one on validation
     * (`npm run validate-models -- --tune` sets it).
     */
    defaultProfile: z.enum(PROFILES).default("fast"),
    validationSplit: z.string().optional(),
  })
  .superRefine((manifest, ctx) => {
    const names = new Set(manifest.members.map((m) => m.name));
    for (const [profile, { members }] of Object.entries(manifest.profiles)) {
      for (const name of members) {
        if (!names.has(name)) {
          ctx.addIssue({ code: "custom", path: ["profiles", profile], message: `unknown member "${name}"` });
        }
      }
    }
    if (manifest.input.percentileLow >= manifest.input.percentileHigh) {
      ctx.addIssue({ code: "custom", path: ["input"], message: "percentileLow must be below percentileHigh" });
    }
  });

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestMember = z.infer<typeof memberSchema>;
export type Postprocess = z.infer<typeof postprocessSchema>;
export type InputNormalization = z.infer<typeof inputNormalizationSchema>;
