/**
 * The compute a job used and what it cost: the model endpoint's busy time at the instance's hourly price
 * plus the segment function's time at its price per second. Prices come from the deployment (infra sets
 * them for the instance type and function size it deploys).
 */
import type { JobCompute } from "../../core/schemas/api";
import type { JobTimings } from "../../core/schemas/job-documents";

export interface ComputePricing {
  /** On-demand price of one endpoint instance. */
  readonly endpointUsdPerHour: number;
  /** Price of one second of the segment function at its memory size. */
  readonly functionUsdPerSecond: number;
}

const BASIS =
  "endpoint inference time at the instance's hourly price plus segment function time at its price per second; " +
  "excludes endpoint idle time, storage, requests and data transfer";

/**
 * @example
 * ```ts
 * jobCompute([status.timings], { endpointUsdPerHour: 1.408, functionUsdPerSecond: 0.0000489583 }).estimatedCostUsd;
 * ```
 */
export function jobCompute(
  timings: readonly Pick<JobTimings, "totalMs" | "inferenceMs">[],
  pricing: ComputePricing,
): JobCompute {
  const functionSeconds = timings.reduce((sum, t) => sum + t.totalMs, 0) / 1000;
  const endpointSeconds = timings.reduce((sum, t) => sum + t.inferenceMs, 0) / 1000;
  const estimatedCostUsd =
    (endpointSeconds * pricing.endpointUsdPerHour) / 3600 + functionSeconds * pricing.functionUsdPerSecond;
  return {
    functionSeconds: round(functionSeconds, 3),
    endpointSeconds: round(endpointSeconds, 3),
    estimatedCostUsd: round(estimatedCostUsd, 6),
    pricing: { ...pricing },
    basis: BASIS,
  };
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
