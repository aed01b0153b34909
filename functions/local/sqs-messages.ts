/**
 * The messages the local queue carries, in the shapes AWS gives them to the segment function: the body
 * is an S3 event notification (keys URL-encoded) and the envelope an SQS record, so that the local stack
 * runs the deployed handler unchanged.
 */
import { createHash } from "node:crypto";
import type { SQSRecord } from "aws-lambda";
import { encodeS3EventKey } from "../segment/s3-notification";

/** An object that was created, as a notification describes it. */
export interface CreatedObject {
  readonly bucket: string;
  /** Decoded: the key itself. */
  readonly key: string;
  readonly etag?: string;
  readonly size?: number;
  readonly versionId?: string;
}

/** Where local messages claim to come from: nothing in AWS, and recognisably so in logs. */
const LOCAL_QUEUE_ARN = "arn:aws:sqs:local:000000000000:cellseg-local";

/**
 * @example
 * ```ts
 * const body = s3NotificationBody({ bucket: "cellseg", key: "input/job-1/a 1.png", size: 12345 });
 * ```
 */
export function s3NotificationBody(object: CreatedObject, eventTime = new Date()): string {
  return JSON.stringify({
    Records: [
      {
        eventVersion: "2.1",
        eventSource: "aws:s3",
        awsRegion: "local",
        eventTime: eventTime.toISOString(),
        eventName: "ObjectCreated:Put",
        s3: {
          s3SchemaVersion: "1.0",
          bucket: { name: object.bucket, arn: `arn:aws:s3:::${object.bucket}` },
          object: {
            key: encodeS3EventKey(object.key),
            ...(object.size !== undefined ? { size: object.size } : {}),
            ...(object.etag !== undefined ? { eTag: object.etag } : {}),
            ...(object.versionId !== undefined ? { versionId: object.versionId } : {}),
            sequencer: eventTime.getTime().toString(16).toUpperCase(),
          },
        },
      },
    ],
  });
}

/** A message as the queue holds it between deliveries. */
export interface QueuedMessage {
  readonly messageId: string;
  readonly body: string;
  readonly sentAt: number;
  /** Deliveries so far. */
  receiveCount: number;
  firstReceivedAt?: number;
}

/** The SQS record of one delivery of `message`. */
export function sqsRecord(message: QueuedMessage): SQSRecord {
  return {
    messageId: message.messageId,
    receiptHandle: `${message.messageId}/${message.receiveCount}`,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: String(message.sentAt),
      SenderId: "cellseg-local",
      ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt ?? message.sentAt),
    },
    messageAttributes: {},
    md5OfBody: createHash("md5").update(message.body).digest("hex"),
    eventSource: "aws:sqs",
    eventSourceARN: LOCAL_QUEUE_ARN,
    awsRegion: "local",
  };
}
