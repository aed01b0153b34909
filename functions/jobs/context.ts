/**
 * What the jobs domain works with: the two buckets behind the {@link Storage} interface, the links it
 * hands to clients, and the deployment's limits and prices. The API's wiring builds it; the domain
 * knows nothing of HTTP or AWS.
 */
import type { Storage } from "../pipeline/storage/storage";
import type { ComputePricing } from "./compute-cost";
import type { ObjectLinks } from "./object-links";

export interface JobsSettings {
  /** The most files one job may hold. */
  readonly maxFilesPerJob: number;
  readonly uploadUrlTtlSeconds: number;
  readonly resultUrlTtlSeconds: number;
  readonly pricing: ComputePricing;
}

export interface JobsContext {
  readonly input: Storage;
  readonly output: Storage;
  readonly links: ObjectLinks;
  readonly settings: JobsSettings;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** @default crypto.randomUUID */
  readonly newJobId?: () => string;
}
