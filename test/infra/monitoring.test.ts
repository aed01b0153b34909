import { Match, type Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { SEGMENT_METRICS } from "../../functions/segment/metrics";
import { getAtt, logicalId, ref, synthesize } from "./synth";

interface AlarmJson {
  Properties: {
    MetricName: string;
    Namespace: string;
    Threshold: number;
    ComparisonOperator: string;
    Dimensions?: { Name: string; Value: unknown }[];
    AlarmActions?: unknown[];
    TreatMissingData?: string;
  };
}

const alarmsOf = (template: Template) => Object.values(template.findResources("AWS::CloudWatch::Alarm")) as AlarmJson[];
const alarmOn = (template: Template, metricName: string, dimension?: unknown) =>
  alarmsOf(template).filter(
    (alarm) =>
      alarm.Properties.MetricName === metricName &&
      (dimension === undefined || JSON.stringify(alarm.Properties.Dimensions).includes(JSON.stringify(dimension))),
  );

describe("monitoring", () => {
  const { stack, template } = synthesize();
  const { pipeline, api } = stack;

  it("alarms when an image reaches the dead-letter queue", () => {
    const [alarm] = alarmOn(
      template,
      "ApproximateNumberOfMessagesVisible",
      getAtt(pipeline.deadLetterQueue, "QueueName"),
    );
    expect(alarm.Properties).toMatchObject({
      Namespace: "AWS/SQS",
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      TreatMissingData: "notBreaching",
    });
  });

  it("alarms when the oldest queued image waited more than an hour", () => {
    const [alarm] = alarmOn(template, "ApproximateAgeOfOldestMessage", getAtt(pipeline.queue, "QueueName"));
    expect(alarm.Properties).toMatchObject({
      Namespace: "AWS/SQS",
      Threshold: 3600,
      ComparisonOperator: "GreaterThanThreshold",
    });
    expect(
      alarmOn(synthesize({ queueAgeAlarmMinutes: "15" }).template, "ApproximateAgeOfOldestMessage")[0].Properties
        .Threshold,
    ).toBe(900);
  });

  it.each(["Errors", "Throttles"])("alarms on %s of both functions", (metricName) => {
    for (const fn of [pipeline.segment.function, api.handler.function]) {
      expect(alarmOn(template, metricName, ref(fn))).toHaveLength(1);
    }
    expect(alarmOn(template, metricName)).toHaveLength(2);
  });

  it.each(["Invocation5XXErrors", "InvocationModelErrors"])(
    "alarms when over 5 %% of the endpoint's invocations end in %s, not on a few refused in a burst",
    (metricName) => {
      // Prepare
      const rateAlarms = alarmsOf(template).filter((alarm) =>
        JSON.stringify(alarm.Properties).includes(`"MetricName":"${metricName}"`),
      );

      // Assess
      expect(rateAlarms).toHaveLength(1);
      const { Properties: alarm } = rateAlarms[0] as unknown as {
        Properties: {
          Threshold: number;
          ComparisonOperator: string;
          Metrics: {
            Id: string;
            Expression?: string;
            MetricStat?: { Metric: { MetricName: string; Namespace: string; Dimensions: unknown[] } };
          }[];
        };
      };
      expect(alarm).toMatchObject({ Threshold: 5, ComparisonOperator: "GreaterThanThreshold" });
      expect(alarm.Metrics.find((m) => m.Expression)?.Expression).toBe(
        "IF(invocations > 0, 100 * errors / invocations, 0)",
      );
      const dimensions = [
        { Name: "EndpointName", Value: "cellseg-g4dn-xlarge-realtime" },
        { Name: "VariantName", Value: "AllTraffic" },
      ];
      expect(alarm.Metrics.filter((m) => m.MetricStat).map((m) => [m.Id, m.MetricStat!.Metric])).toEqual(
        expect.arrayContaining([
          ["errors", { MetricName: metricName, Namespace: "AWS/SageMaker", Dimensions: dimensions }],
          ["invocations", { MetricName: "Invocations", Namespace: "AWS/SageMaker", Dimensions: dimensions }],
        ]),
      );
    },
  );

  it("alarms on the API's 5xx answers, which a function that answered 500 does not count as errors", () => {
    const [alarm, ...more] = alarmOn(template, "5XXError");
    expect(more).toEqual([]);
    expect(alarm.Properties).toMatchObject({ Namespace: "AWS/ApiGateway", Threshold: 1 });
  });

  it("alarms on what an async endpoint publishes, with the dimensions it publishes them under", () => {
    const asyncTemplate = synthesize({ endpointMode: "async" }).template;
    for (const metricName of [
      "Invocation5XXErrors",
      "InvocationFailures",
      "RequestDownloadFailures",
      "ResponseUploadFailures",
    ]) {
      const [alarm, ...more] = alarmOn(asyncTemplate, metricName);
      expect(more).toEqual([]);
      expect(alarm.Properties).toMatchObject({
        Namespace: "AWS/SageMaker",
        Dimensions: [
          { Name: "EndpointName", Value: "cellseg-g4dn-xlarge-async" },
          { Name: "VariantName", Value: "AllTraffic" },
        ],
        Threshold: 1,
      });
    }
    // An async endpoint publishes no InvocationModelErrors: an alarm on it could never fire.
    expect(alarmOn(asyncTemplate, "InvocationModelErrors")).toHaveLength(0);
    expect(alarmOn(template, "InvocationFailures")).toHaveLength(0);
  });

  it("notifies nobody unless an alarm email is configured", () => {
    template.resourceCountIs("AWS::SNS::Topic", 0);
    expect(alarmsOf(template).every((alarm) => alarm.Properties.AlarmActions === undefined)).toBe(true);
  });

  it("mails every operational alarm to the alarm email through a TLS-only topic", () => {
    // Prepare
    const { stack: mailed, template: mailedTemplate } = synthesize({
      alarmEmail: "ops@example.com",
      endpointMode: "async",
    });
    const topic = mailed.monitoring.alarmTopic!;

    // Assess
    mailedTemplate.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "ops@example.com",
      TopicArn: ref(topic),
    });
    mailedTemplate.hasResourceProperties("AWS::SNS::TopicPolicy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
        ]),
      },
    });
    const operational = alarmsOf(mailedTemplate).filter(
      (alarm) => alarm.Properties.MetricName !== "HasBacklogWithoutCapacity",
    );
    expect(operational).toHaveLength(mailed.monitoring.alarms.length);
    for (const alarm of operational) expect(alarm.Properties.AlarmActions).toEqual([ref(topic)]);
  });

  describe("dashboard", () => {
    const body = JSON.stringify(
      template.toJSON().Resources[logicalId(stack.monitoring.dashboard)].Properties.DashboardBody,
    );

    it("shows the queue, the dead-letter queue and both functions", () => {
      for (const metric of [
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "Duration",
        "Errors",
        "Throttles",
      ])
        expect(body).toContain(metric);
      for (const resource of [pipeline.queue, pipeline.deadLetterQueue]) expect(body).toContain(logicalId(resource));
      for (const fn of [pipeline.segment.function, api.handler.function]) expect(body).toContain(logicalId(fn));
    });

    it("shows the endpoint's invocations, latency, errors and GPU utilization", () => {
      for (const metric of [
        "Invocations",
        "ModelLatency",
        "Invocation4XXErrors",
        "Invocation5XXErrors",
        "InvocationModelErrors",
      ]) {
        expect(body).toContain(
          `\\"AWS/SageMaker\\",\\"${metric}\\",\\"EndpointName\\",\\"cellseg-g4dn-xlarge-realtime\\"`,
        );
      }
      expect(body).toContain(
        `\\"/aws/sagemaker/Endpoints\\",\\"GPUUtilization\\",\\"EndpointName\\",\\"cellseg-g4dn-xlarge-realtime\\"`,
      );
    });

    it("shows the pipeline's own metrics (namespace cellseg, service cellseg-segment)", () => {
      const published = [
        SEGMENT_METRICS.jobSucceeded,
        SEGMENT_METRICS.jobFailed,
        SEGMENT_METRICS.poisonImage,
        SEGMENT_METRICS.jobDuration,
        SEGMENT_METRICS.inferenceTime,
        SEGMENT_METRICS.tiles,
        SEGMENT_METRICS.cells,
        SEGMENT_METRICS.endpointRetries,
      ];
      expect(published).toEqual([
        "JobSucceeded",
        "JobFailed",
        "PoisonImage",
        "JobDuration",
        "InferenceTime",
        "TilesProcessed",
        "CellsFound",
        "EndpointRetries",
      ]);
      for (const metric of published)
        expect(body).toContain(`\\"cellseg\\",\\"${metric}\\",\\"service\\",\\"cellseg-segment\\"`);
    });

    it("shows the async backlog in async mode", () => {
      const { stack: asyncStack, template: asyncTemplate } = synthesize({ endpointMode: "async" });
      const asyncBody = JSON.stringify(
        asyncTemplate.toJSON().Resources[logicalId(asyncStack.monitoring.dashboard)].Properties.DashboardBody,
      );
      for (const metric of [
        "ApproximateBacklogSize",
        "HasBacklogWithoutCapacity",
        "ApproximateAgeOfOldestRequest",
        "TotalProcessingTime",
        "TimeInBacklog",
        "InvocationFailures",
      ]) {
        expect(asyncBody).toContain(metric);
      }
      // Real-time metrics an async endpoint does not publish are not graphed.
      for (const metric of ["InvocationModelErrors", "InvocationsPerInstance", '\\"AWS/SageMaker\\",\\"Invocations\\"'])
        expect(asyncBody).not.toContain(metric);
      expect(body).not.toContain("ApproximateBacklogSize");
    });
  });

  it("outputs the bucket names, the API URL and the endpoint name", () => {
    template.hasOutput("InputBucketName", { Value: ref(stack.storage.inputBucket) });
    template.hasOutput("OutputBucketName", { Value: ref(stack.storage.outputBucket) });
    template.hasOutput("EndpointName", { Value: "cellseg-g4dn-xlarge-realtime" });
    template.hasOutput("DeadLetterQueueUrl", { Value: ref(pipeline.deadLetterQueue) });
    template.hasOutput("DashboardName", { Value: ref(stack.monitoring.dashboard) });
    const apiUrl = JSON.stringify(template.findOutputs("ApiUrl").ApiUrl.Value);
    expect(apiUrl).toContain(JSON.stringify(ref(api.restApi)));
    expect(apiUrl).toContain(JSON.stringify(ref(api.restApi.deploymentStage)));
  });
});
