/**
 * The segment function: SQS messages carrying S3 "object created" notifications for `input/`, one image
 * job per object. Thin: it parses the SQS envelope (Powertools) and the S3 notification inside it
 * (s3-notification.ts) separately, hands each object to processObject, and maps outcomes to
 * metrics and to SQS partial batch failures: a job that failed retryably or is busy sends its message back to
 * the queue (and, after the queue's redrive limit, to its dead-letter queue) without failing the rest of the
 * batch; an upload that cannot succeed (not an image, too large) is recorded as failed once and its message
 * consumed.
 */
import { BatchProcessor, EventType, processPartialResponse, type ParsedRecord } from "@aws-lambda-powertools/batch";
import { parser } from "@aws-lambda-powertools/batch/parser";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { INPUT_ERROR_CODES } from "../../core/schemas/job-documents";
import { s3NotificationSchema, type S3Notification } from "./s3-notification";
import { loadPipelineConfig } from "../pipeline/config";
import { SQSClient } from "@aws-sdk/client-sqs";
import { errorFields } from "../../plumbing/error-fields";
import { isEndpointStillStarting } from "../pipeline/endpoint/errors";
import { JobInProgressError } from "../pipeline/errors";
import { traced } from "../tracing";
import { processObject, type JobOutcome } from "../pipeline/process-image";
import { wirePipeline, type Pipeline } from "../pipeline/wiring";
import { JobFailedError } from "./errors";
import { type MessageVisibility, sqsMessageVisibility } from "./message-visibility";
import { SEGMENT_METRICS } from "./metrics";

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** Where an image whose async call outlived its deadline goes: back to the queue soon, not after its timeout. */
export interface EarlyRetry {
  readonly visibility: MessageVisibility;
  readonly delaySeconds: number;
}

type S3SqsRecord = ParsedRecord<SQSRecord, S3Notification>;

/**
 * Builds the handler around a wired pipeline. The deployed function uses {@link handler}; tests and the
 * local stack call this with their own wiring.
 *
 * @example
 * ```ts
 * const segment = createSegmentHandler(wirePipeline(loadPipelineConfig(env), logger), { logger, metrics });
 * const { batchItemFailures } = await segment(sqsEvent, context);
 * ```
 */
export function createSegmentHandler(pipeline: Pipeline, { logger, metrics }: Observability, earlyRetry?: EarlyRetry) {
  const recordHandler = async (record: S3SqsRecord): Promise<void> => {
    const attempt = Number(record.attributes.ApproximateReceiveCount) || 1;
    if (!("Records" in record.body)) {
      logger.info("ignoring S3's test event", { messageId: record.messageId });
      return;
    }
    for (const s3Record of record.body.Records) {
      const { bucket, object } = s3Record.s3;
      if (!s3Record.eventName.startsWith("ObjectCreated:")) {
        logger.info("ignoring an event that creates no object", { eventName: s3Record.eventName, key: object.key });
        continue;
      }
      const outcome = await processObject(
        {
          bucket: bucket.name,
          key: object.key,
          attempt,
          ...(object.eTag ? { etag: object.eTag } : {}),
          ...(object.versionId ? { versionId: object.versionId } : {}),
          ...(object.size !== undefined ? { size: object.size } : {}),
        },
        pipeline.deps,
        pipeline.settings,
      );
      recordOutcome(outcome, object.key);
      // An upload that cannot succeed (not an image, too large) failed for good: its status document says
      // why, and another delivery could only fail again. The dead-letter queue keeps the failures that a
      // retry or a redrive after a fix can cure (the endpoint refusing our requests, a bug).
      if (outcome.kind === "failed" && INPUT_ERROR_CODES.includes(outcome.status.error.code)) continue;
      if (outcome.kind === "failed") {
        if (earlyRetry && isEndpointStillStarting(outcome.error)) await returnEarly(record, earlyRetry, object.key);
        throw new JobFailedError(`${object.key}: ${outcome.status.error.message}`, { cause: outcome.error });
      }
      if (outcome.kind === "in-progress") throw new JobInProgressError(`${object.key}: ${outcome.reason}`);
    }
  };

  async function returnEarly(
    record: S3SqsRecord,
    { visibility, delaySeconds }: EarlyRetry,
    key: string,
  ): Promise<void> {
    try {
      await visibility.returnIn(record, delaySeconds);
      logger.info("the endpoint is still starting: the image comes back soon", { key, delaySeconds });
    } catch (error) {
      // The message still comes back, after the queue's visibility timeout.
      logger.warn("cannot bring the message back early", { key, error: errorFields(error) });
    }
  }

  function recordOutcome(outcome: JobOutcome, key: string): void {
    switch (outcome.kind) {
      case "succeeded": {
        const { report } = outcome;
        metrics.addMetric(SEGMENT_METRICS.jobSucceeded, MetricUnit.Count, 1);
        metrics.addMetric(SEGMENT_METRICS.jobDuration, MetricUnit.Milliseconds, report.timings.totalMs);
        metrics.addMetric(SEGMENT_METRICS.inferenceTime, MetricUnit.Milliseconds, report.timings.inferenceMs);
        metrics.addMetric(SEGMENT_METRICS.tiles, MetricUnit.Count, report.tiles);
        metrics.addMetric(SEGMENT_METRICS.cells, MetricUnit.Count, report.cells);
        metrics.addMetric(SEGMENT_METRICS.endpointRetries, MetricUnit.Count, report.retries);
        return;
      }
      case "failed":
        if (outcome.repeated) return; // counted when it failed
        metrics.addMetric(SEGMENT_METRICS.jobFailed, MetricUnit.Count, 1);
        if (!outcome.status.error.retryable) metrics.addMetric(SEGMENT_METRICS.poisonImage, MetricUnit.Count, 1);
        if (outcome.retries > 0) metrics.addMetric(SEGMENT_METRICS.endpointRetries, MetricUnit.Count, outcome.retries);
        return;
      case "duplicate":
        logger.info("duplicate event: the run already succeeded", {
          key,
          runId: outcome.status.status === "queued" ? undefined : outcome.status.runId,
        });
        metrics.addMetric(SEGMENT_METRICS.duplicateEvent, MetricUnit.Count, 1);
        return;
      case "superseded":
        logger.info("stale event", { key, reason: outcome.reason });
        metrics.addMetric(SEGMENT_METRICS.staleEvent, MetricUnit.Count, 1);
        return;
      case "ignored":
        logger.warn("ignoring an object outside the input layout", { key, reason: outcome.reason });
        metrics.addMetric(SEGMENT_METRICS.ignoredObject, MetricUnit.Count, 1);
        return;
      case "in-progress":
        logger.info("run in progress elsewhere; the message will come back", { key, reason: outcome.reason });
        metrics.addMetric(SEGMENT_METRICS.jobInProgress, MetricUnit.Count, 1);
        return;
    }
  }

  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    logger.addContext(context);
    // The envelope (SQS record) is Powertools' schema; the payload (S3 notification) ours. A body that is
    // not a notification fails its record, which the queue retries and then dead-letters.
    const processor = new BatchProcessor(EventType.SQS, {
      parser,
      innerSchema: s3NotificationSchema,
      transformer: "json",
      logger,
    });
    try {
      // A batch that failed entirely is reported like a partial one (every message back to the queue)
      // rather than thrown, which Lambda would log as a crash.
      return await processPartialResponse(event, recordHandler, processor, { context, throwOnFullBatchFailure: false });
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

const logger = new Logger({ serviceName: "cellseg-segment" });
const metrics = new Metrics({ namespace: "cellseg", serviceName: "cellseg-segment" });
let wired: ReturnType<typeof createSegmentHandler> | undefined;

/**
 * The Lambda entry point. The configuration is read once, on the first invocation of an instance; a
 * missing variable fails every invocation with a ConfigError naming it.
 */
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  if (wired === undefined) {
    const config = loadPipelineConfig(process.env);
    const earlyRetry =
      config.endpoint.kind === "sagemaker-async"
        ? {
            visibility: sqsMessageVisibility(traced(new SQSClient(config.region ? { region: config.region } : {}))),
            delaySeconds: config.endpoint.retryDelaySeconds,
          }
        : undefined;
    wired = createSegmentHandler(wirePipeline(config, logger), { logger, metrics }, earlyRetry);
  }
  return wired(event, context);
};
