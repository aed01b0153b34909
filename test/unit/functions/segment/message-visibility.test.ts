import { ChangeMessageVisibilityCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { queueUrl, sqsMessageVisibility } from "../../../../functions/segment/message-visibility";

describe("message visibility", () => {
  it("finds the queue's URL from the record's event source ARN", () => {
    expect(queueUrl("arn:aws:sqs:us-east-1:123456789012:Cellseg-PipelineQueue")).toBe(
      "https://sqs.us-east-1.amazonaws.com/123456789012/Cellseg-PipelineQueue",
    );
    expect(queueUrl("arn:aws-cn:sqs:cn-north-1:123456789012:q")).toBe(
      "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q",
    );
    expect(() => queueUrl("arn:aws:s3:::bucket")).toThrow(/not an SQS queue ARN/);
  });

  it("changes the delivered message's visibility timeout to the delay", async () => {
    // Prepare
    const sent: unknown[] = [];
    const client = { send: async (command: unknown) => void sent.push(command) } as unknown as SQSClient;

    // Act
    await sqsMessageVisibility(client).returnIn(
      { receiptHandle: "handle-1", eventSourceARN: "arn:aws:sqs:eu-west-1:111122223333:queue" },
      60,
    );

    // Assess
    expect(sent).toHaveLength(1);
    expect(sent[0]).toBeInstanceOf(ChangeMessageVisibilityCommand);
    expect((sent[0] as ChangeMessageVisibilityCommand).input).toEqual({
      QueueUrl: "https://sqs.eu-west-1.amazonaws.com/111122223333/queue",
      ReceiptHandle: "handle-1",
      VisibilityTimeout: 60,
    });
  });
});
