import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { VISIBILITY_TIMEOUT_FACTOR } from "../../infra/constructs/segment-pipeline";
import { getAtt, logicalId, ref, synthesize } from "./synth";

describe("segment pipeline", () => {
  const { stack, template } = synthesize();
  const { queue, deadLetterQueue, segment } = stack.pipeline;
  const resources = template.toJSON().Resources;

  it("sends the input bucket's ObjectCreated events under input/ to the queue", () => {
    template.hasResourceProperties("Custom::S3BucketNotifications", {
      BucketName: ref(stack.storage.inputBucket),
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Events: ["s3:ObjectCreated:*"],
            Filter: { Key: { FilterRules: [{ Name: "prefix", Value: "input/" }] } },
            QueueArn: getAtt(queue, "Arn"),
          },
        ],
      },
    });
  });

  it("lets only the input bucket's notifications, from this account, send to the queue", () => {
    template.hasResourceProperties("AWS::SQS::QueuePolicy", {
      Queues: [ref(queue)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Allow",
            Principal: { Service: "s3.amazonaws.com" },
            Action: Match.arrayWith(["sqs:SendMessage"]),
            Condition: {
              ArnLike: { "aws:SourceArn": getAtt(stack.storage.inputBucket, "Arn") },
              StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
            },
          }),
        ]),
      },
    });
  });

  it("moves a message to the dead-letter queue after 5 deliveries", () => {
    expect(resources[logicalId(queue)].Properties.RedrivePolicy).toEqual({
      deadLetterTargetArn: getAtt(deadLetterQueue, "Arn"),
      maxReceiveCount: 5,
    });
    expect(resources[logicalId(deadLetterQueue)].Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
  });

  it.each([
    ["queue", queue],
    ["dead-letter queue", deadLetterQueue],
  ])("encrypts the %s and refuses requests without TLS", (_, q) => {
    expect(resources[logicalId(q)].Properties.SqsManagedSseEnabled).toBe(true);
    template.hasResourceProperties("AWS::SQS::QueuePolicy", {
      Queues: [ref(q)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Deny",
            Action: "sqs:*",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
        ]),
      },
    });
  });

  it("hides a message for at least six times the segment function's timeout", () => {
    // Prepare
    const functionTimeout = resources[logicalId(segment.function)].Properties.Timeout as number;

    // Assess
    expect(functionTimeout).toBe(900);
    expect(resources[logicalId(queue)].Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * functionTimeout);
    expect(VISIBILITY_TIMEOUT_FACTOR).toBeGreaterThanOrEqual(6);
  });

  it("follows a shorter function timeout", () => {
    const custom = synthesize({ segmentTimeoutSeconds: "300" });
    expect(
      custom.template.toJSON().Resources[logicalId(custom.stack.pipeline.queue)].Properties.VisibilityTimeout,
    ).toBe(1800);
  });

  it(
    "runs the segment function on the queue, one image per invocation, " +
      "with partial batch failures and a concurrency cap",
    () => {
      template.resourceCountIs("AWS::Lambda::EventSourceMapping", 1);
      template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
        EventSourceArn: getAtt(queue, "Arn"),
        FunctionName: ref(segment.function),
        BatchSize: 1,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        ScalingConfig: { MaximumConcurrency: 5 },
      });
    },
  );

  it("takes the concurrency cap and the redrive count from the context", () => {
    const custom = synthesize({ segmentMaxConcurrency: "20", maxReceiveCount: "3" });
    custom.template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      ScalingConfig: { MaximumConcurrency: 20 },
    });
    expect(
      custom.template.toJSON().Resources[logicalId(custom.stack.pipeline.queue)].Properties.RedrivePolicy
        .maxReceiveCount,
    ).toBe(3);
  });
});
