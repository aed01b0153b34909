/**
 * Operations: one dashboard (queue, functions, endpoint, and the pipeline's own metrics) and the alarms an
 * operator must act on, optionally mailed through an SNS topic.
 */
import { Duration } from "aws-cdk-lib";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TreatMissingData,
  type IMetric,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct } from "constructs";
import { SEGMENT_METRICS } from "../../functions/segment/metrics";
import type { EndpointMode } from "../config";
import type { Api } from "./api";
import { METRICS_NAMESPACE, type CellsegFunction } from "./cellseg-function";
import type { ModelEndpoint } from "./model-endpoint";
import { SEGMENT_SERVICE_NAME, type SegmentPipeline } from "./segment-pipeline";

const PERIOD = Duration.minutes(5);

/**
 * The endpoint's server-side error metrics per mode, all published per variant. Async endpoints publish only
 * Invocation4XX/5XXErrors and ModelLatency of the real-time metrics, and their own per-request failures
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-monitor.html).
 */
/** Real-time endpoint errors alarm above this share of invocations (a few refused requests in a burst do not). */
const ERROR_RATE_PERCENT = 5;

const ERROR_METRICS: Record<EndpointMode, readonly string[]> = {
  realtime: ["Invocation5XXErrors", "InvocationModelErrors"],
  async: ["Invocation5XXErrors", "InvocationFailures", "RequestDownloadFailures", "ResponseUploadFailures"],
};

export interface MonitoringProps {
  readonly pipeline: SegmentPipeline;
  readonly api: Api;
  readonly endpoint: ModelEndpoint;
  /** Alarm when the oldest queued image has waited longer than this. */
  readonly queueAgeLimit: Duration;
  /** @default - no notifications: the alarms show on the dashboard only */
  readonly alarmEmail?: string;
}

export class Monitoring extends Construct {
  readonly dashboard: Dashboard;
  readonly alarms: readonly Alarm[];
  readonly alarmTopic?: Topic;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { pipeline, api, endpoint } = props;
    const functions = [pipeline.segment, api.handler];

    this.alarms = [
      this.alarm("DeadLetterQueueNotEmpty", {
        description:
          "An image failed every delivery and is in the dead-letter queue: read its status document, then " +
          "redrive or delete it.",
        metric: pipeline.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          statistic: "Maximum",
          period: Duration.minutes(1),
        }),
        threshold: 1,
      }),
      this.alarm("QueueOldestMessageAge", {
        description:
          `An uploaded image has waited more than ${props.queueAgeLimit.toHumanString()} in the queue: the ` +
          "segment function is failing, throttled or too slow.",
        metric: pipeline.queue.metricApproximateAgeOfOldestMessage({ statistic: "Maximum", period: PERIOD }),
        threshold: props.queueAgeLimit.toSeconds(),
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      }),
      ...functions.flatMap((fn) => [
        this.alarm(`${pascalCase(fn.serviceName)}Errors`, {
          description: `The ${fn.serviceName} function failed invocations (a crash or a timeout, not a failed image).`,
          metric: fn.function.metricErrors({ period: PERIOD }),
          threshold: 1,
        }),
        this.alarm(`${pascalCase(fn.serviceName)}Throttles`, {
          description: `The ${fn.serviceName} function was throttled: the account's concurrency is exhausted.`,
          metric: fn.function.metricThrottles({ period: PERIOD }),
          threshold: 1,
        }),
      ]),
      // hono answers an unexpected error with a 500 and the function succeeds: only API Gateway sees it.
      this.alarm("ApiServerErrors", {
        description:
          "The API answered 5xx: an unexpected error in the API function (its log has the request), or API " +
          "Gateway's own.",
        metric: api.restApi.metricServerError({ statistic: "Sum", period: PERIOD }),
        threshold: 1,
      }),
      ...this.endpointErrorAlarms(endpoint),
    ];

    if (props.alarmEmail !== undefined) {
      this.alarmTopic = new Topic(this, "AlarmTopic", { displayName: "cellseg alarms", enforceSSL: true });
      this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));
      for (const alarm of this.alarms) alarm.addAlarmAction(new SnsAction(this.alarmTopic));
    }

    this.dashboard = new Dashboard(this, "Dashboard", { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: "Alarms", alarms: [...this.alarms], width: 24 }));
    this.dashboard.addWidgets(
      graph("Queue: images waiting and in progress", [
        pipeline.queue.metricApproximateNumberOfMessagesVisible(),
        pipeline.queue.metricApproximateNumberOfMessagesNotVisible(),
      ]),
      graph("Queue: age of the oldest image (s)", [
        pipeline.queue.metricApproximateAgeOfOldestMessage({ statistic: "Maximum" }),
      ]),
      graph("Dead-letter queue: images", [
        pipeline.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: "Maximum" }),
      ]),
    );
    this.dashboard.addWidgets(...functions.flatMap(functionWidgets));
    this.dashboard.addWidgets(...this.endpointWidgets(endpoint));
    this.dashboard.addWidgets(
      graph("Jobs", [
        segmentMetric(SEGMENT_METRICS.jobSucceeded, "Sum"),
        segmentMetric(SEGMENT_METRICS.jobFailed, "Sum"),
        segmentMetric(SEGMENT_METRICS.poisonImage, "Sum"),
      ]),
      graph("Job and inference time (ms)", [
        segmentMetric(SEGMENT_METRICS.jobDuration, "Average"),
        segmentMetric(SEGMENT_METRICS.jobDuration, "p90"),
        segmentMetric(SEGMENT_METRICS.inferenceTime, "Average"),
      ]),
      graph("Tiles and cells", [
        segmentMetric(SEGMENT_METRICS.tiles, "Sum"),
        segmentMetric(SEGMENT_METRICS.cells, "Sum"),
      ]),
      graph("Endpoint retries", [segmentMetric(SEGMENT_METRICS.endpointRetries, "Sum")]),
    );
  }

  private alarm(
    id: string,
    options: { description: string; metric: IMetric; threshold: number; comparisonOperator?: ComparisonOperator },
  ): Alarm {
    return new Alarm(this, id, {
      alarmDescription: options.description,
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator: options.comparisonOperator ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // No data is no traffic, not a failure.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  /**
   * Server-side failures of the endpoint, as SageMaker publishes them for its mode (per variant in both).
   * Real-time: the share of invocations that failed, above ERROR_RATE_PERCENT: a burst beyond what the
   * instances admit is refused with 503 and retried by the segment function, which is load, not failure.
   * Async: every failed request (SageMaker queues requests itself, so none is refused for load).
   */
  private endpointErrorAlarms(endpoint: ModelEndpoint): Alarm[] {
    const sum = (name: string) => endpoint.variantMetric(name, { statistic: "Sum", period: PERIOD });
    return ERROR_METRICS[endpoint.mode].map((name) => {
      if (endpoint.mode === "async") {
        return this.alarm(`Endpoint${name}`, {
          description: `The endpoint ${endpoint.endpointName} reported ${name}.`,
          metric: sum(name),
          threshold: 1,
        });
      }
      const rate = new MathExpression({
        expression: "IF(invocations > 0, 100 * errors / invocations, 0)",
        usingMetrics: { errors: sum(name), invocations: sum("Invocations") },
        label: `${name} (% of invocations)`,
        period: PERIOD,
      });
      return this.alarm(`Endpoint${name}Rate`, {
        description:
          `Over ${ERROR_RATE_PERCENT} % of the invocations of ${endpoint.endpointName} ended in ${name} within ` +
          `${PERIOD.toMinutes()} minutes.`,
        metric: rate,
        threshold: ERROR_RATE_PERCENT,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      });
    });
  }

  private endpointWidgets(endpoint: ModelEndpoint): GraphWidget[] {
    const widgets = [
      endpoint.mode === "async"
        ? // An async endpoint publishes no Invocations: how long requests take, and wait, is what it tells.
          graph("Endpoint: request time, queue to answer (ms)", [
            endpoint.variantMetric("TotalProcessingTime", { statistic: "Average" }),
            endpoint.variantMetric("TotalProcessingTime", { statistic: "p90" }),
          ])
        : graph("Endpoint: invocations", [
            endpoint.variantMetric("Invocations", { statistic: "Sum" }),
            endpoint.variantMetric("InvocationsPerInstance", { statistic: "Sum" }),
          ]),
      graph("Endpoint: model latency (µs)", [
        endpoint.variantMetric("ModelLatency", { statistic: "Average" }),
        endpoint.variantMetric("ModelLatency", { statistic: "p99" }),
      ]),
      graph(
        "Endpoint: errors",
        ["Invocation4XXErrors", ...ERROR_METRICS[endpoint.mode]].map((name) =>
          endpoint.variantMetric(name, { statistic: "Sum" }),
        ),
      ),
      // What the scaling targets should be tuned against: they assume a throughput nobody has measured yet.
      graph(
        "Endpoint: instance utilization (%)",
        ["GPUUtilization", "GPUMemoryUtilization", "CPUUtilization"].map((name) =>
          endpoint.instanceMetric(name, { statistic: "Average" }),
        ),
      ),
    ];
    if (endpoint.mode === "async") {
      widgets.push(
        graph("Endpoint: asynchronous backlog", [
          endpoint.endpointMetric("ApproximateBacklogSize", { statistic: "Average" }),
          endpoint.endpointMetric("HasBacklogWithoutCapacity", { statistic: "Maximum" }),
          endpoint.endpointMetric("ApproximateAgeOfOldestRequest", { statistic: "Maximum" }),
        ]),
        graph("Endpoint: time in the backlog (µs)", [
          endpoint.variantMetric("TimeInBacklog", { statistic: "Average" }),
        ]),
      );
    }
    return widgets;
  }
}

function graph(title: string, metrics: IMetric[]): GraphWidget {
  return new GraphWidget({ title, left: metrics, width: 8 });
}

function functionWidgets(fn: CellsegFunction): GraphWidget[] {
  const { function: lambda } = fn;
  return [
    graph(`${fn.serviceName}: invocations, errors, throttles`, [
      lambda.metricInvocations(),
      lambda.metricErrors(),
      lambda.metricThrottles(),
    ]),
    graph(`${fn.serviceName}: duration (ms)`, [
      lambda.metricDuration({ statistic: "Average" }),
      lambda.metricDuration({ statistic: "p99" }),
    ]),
  ];
}

/** `cellseg-segment` → `CellsegSegment`, for construct ids. */
function pascalCase(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, __, letter: string) => letter.toUpperCase());
}

/** A metric the segment function publishes with Powertools (namespace `cellseg`, dimension `service`). */
function segmentMetric(metricName: string, statistic: string): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: SEGMENT_SERVICE_NAME },
    statistic,
    period: PERIOD,
  });
}
