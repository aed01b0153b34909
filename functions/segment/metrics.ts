/**
 * What the segment function reports to CloudWatch, in a module of its own so that the CDK app's dashboard
 * and alarms can name the metrics without loading the function (and sharp) at synth.
 */

/** The metric names the function emits (namespace from POWERTOOLS_METRICS_NAMESPACE). */
export const SEGMENT_METRICS = {
  jobSucceeded: "JobSucceeded",
  jobFailed: "JobFailed",
  /** Failed for good: a corrupt or unreadable image (a poison message). */
  poisonImage: "PoisonImage",
  duplicateEvent: "DuplicateEvent",
  staleEvent: "StaleEvent",
  ignoredObject: "IgnoredObject",
  jobInProgress: "JobInProgress",
  jobDuration: "JobDuration",
  inferenceTime: "InferenceTime",
  tiles: "TilesProcessed",
  cells: "CellsFound",
  endpointRetries: "EndpointRetries",
} as const;
