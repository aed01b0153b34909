/**
 * Bringing a failed message back sooner than the queue's visibility timeout. The queue's timeout is sized
 * for the longest run (six times the function's); an image whose async call timed out while the endpoint
 * was still scaling from zero would otherwise wait 90 minutes, by when the endpoint has scaled back in.
 */
import { ChangeMessageVisibilityCommand, type SQSClient } from "@aws-sdk/client-sqs";

/** The parts of an SQS record that identify its delivery. */
export interface DeliveredMessage {
  readonly receiptHandle: string;
  /** `arn:aws:sqs:<region>:<account>:<queue>`. */
  readonly eventSourceARN: string;
}

export interface MessageVisibility {
  /** Makes the message visible again `seconds` from now (it then comes back with its receive count + 1). */
  returnIn(message: DeliveredMessage, seconds: number): Promise<void>;
}

/** @example createSegmentHandler(pipeline, observability, { visibility: sqsMessageVisibility(new SQSClient({})) }) */
export function sqsMessageVisibility(client: SQSClient): MessageVisibility {
  return {
    async returnIn(message, seconds) {
      await client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl(message.eventSourceARN),
          ReceiptHandle: message.receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    },
  };
}

/** `arn:aws:sqs:us-east-1:123456789012:name` -> `https://sqs.us-east-1.amazonaws.com/123456789012/name`. */
export function queueUrl(queueArn: string): string {
  const [arn, partition, service, region, account, name] = queueArn.split(":");
  if (arn !== "arn" || service !== "sqs" || !region || !account || !name)
    throw new Error(`not an SQS queue ARN: ${queueArn}`);
  const domain = partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
  return `https://sqs.${region}.${domain}/${account}/${name}`;
}
