import { formatSubmissionRows } from "../kaggle/csv";
import type { GrayImage, Instance } from "../types";
import { cocoDocument, type CocoDocument } from "./coco-json";
import { labelPng } from "./label-png";
import { overlayPng, type OverlayStyle } from "./overlay-png";

/** Every result format for one segmented image, as the CLI, the model server and the pipeline write them. */
export interface ImageResults {
  /** Kaggle rows for this image (no header). */
  readonly submissionRows: string;
  readonly coco: CocoDocument;
  /** 16-bit label image: pixel value = 1-based instance number. */
  readonly labelPng: Buffer;
  readonly overlayPng: Buffer;
}

/**
 * @example
 * const results = await renderImageResults("0030fd0e6378", "0030fd0e6378.png", image, instances, "outline");
 */
export async function renderImageResults(
  id: string,
  fileName: string,
  image: GrayImage,
  instances: readonly Instance[],
  overlayStyle: OverlayStyle,
): Promise<ImageResults> {
  const [labels, overlay] = await Promise.all([
    labelPng(instances, image.width, image.height),
    overlayPng(image, instances, { style: overlayStyle }),
  ]);
  return {
    submissionRows: formatSubmissionRows(id, instances),
    coco: cocoDocument([{ id, fileName, width: image.width, height: image.height, instances }]),
    labelPng: labels,
    overlayPng: overlay,
  };
}
