/**
 * What the pipeline is built from, shared by its configuration (config.ts), its wiring (wiring.ts) and the
 * processing of an image (process-image.ts).
 */
import type { OverlayStyle } from "../../core/outputs/overlay-png";
import type { Logger } from "../../plumbing/logger";
import type { SegmentationEndpoint } from "./endpoint/endpoint";
import type { SegmentImageOptions } from "./segment-image";
import type { Storage } from "./storage/storage";

/** What the pipeline works with; the wiring (wiring.ts) picks the implementations. */
export interface PipelineDeps {
  /** The bucket events must come from, and its storage. */
  readonly inputBucket: string;
  readonly input: Storage;
  readonly output: Storage;
  readonly endpoint: SegmentationEndpoint;
  readonly logger: Logger;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** How images are processed; from the configuration (config.ts). */
export interface PipelineSettings extends Omit<SegmentImageOptions, "onRetry"> {
  readonly claimTtlMs: number;
  /** The bucket's only worker, when there is one (the local stack): see ClaimOptions.soleWorker. */
  readonly soleWorker?: string;
  readonly overlayStyle: OverlayStyle;
}
