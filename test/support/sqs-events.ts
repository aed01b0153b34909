/**
 * SQS events as Lambda receives them from a queue that an S3 bucket notifies, built from the recorded
 * shapes in test/fixtures/events/ with the details of real uploaded objects filled in.
 */
import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { encodeS3EventKey } from "../../functions/segment/s3-notification";

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "events");

function fixture(name: string): SQSEvent {
  return JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8")) as SQSEvent;
}

/** An object as S3 describes it in its notification. */
export interface CreatedObject {
  readonly bucket: string;
  readonly key: string;
  readonly etag: string;
  readonly size: number;
  readonly versionId?: string;
}

/** One SQS message carrying S3's notification of `object`. */
export function objectCreatedRecord(object: CreatedObject, receiveCount = 1): SQSRecord {
  const [template] = fixture("sqs-s3-object-created.json").Records;
  const notification = JSON.parse(template.body) as {
    Records: { s3: { bucket: { name: string; arn: string }; object: Record<string, unknown> } }[];
  };
  const { s3 } = notification.Records[0];
  s3.bucket.name = object.bucket;
  s3.bucket.arn = `arn:aws:s3:::${object.bucket}`;
  s3.object = {
    key: encodeS3EventKey(object.key),
    size: object.size,
    eTag: object.etag,
    ...(object.versionId ? { versionId: object.versionId } : {}),
    sequencer: Date.now().toString(16).toUpperCase(),
  };
  return withBody(
    {
      ...template,
      messageId: randomUUID(),
      attributes: { ...template.attributes, ApproximateReceiveCount: String(receiveCount) },
    },
    JSON.stringify(notification),
  );
}

/** An SQS record with another body (and its MD5, as SQS computes it). */
export function withBody(record: SQSRecord, body: string): SQSRecord {
  return { ...record, body, md5OfBody: createHash("md5").update(body).digest("hex") };
}

/** The same message delivered again: same id, receive count one higher. */
export function redelivered(record: SQSRecord): SQSRecord {
  const count = Number(record.attributes.ApproximateReceiveCount) + 1;
  return { ...record, attributes: { ...record.attributes, ApproximateReceiveCount: String(count) } };
}

export function sqsEvent(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

/** S3's test event, sent once when the bucket notification is configured. */
export function s3TestEventRecord(): SQSRecord {
  return fixture("sqs-s3-test-event.json").Records[0];
}

/** A Lambda context as the runtime passes it. */
export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: "cellseg-segment",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:cellseg-segment",
    memoryLimitInMB: "3008",
    awsRequestId: randomUUID(),
    logGroupName: "/aws/lambda/cellseg-segment",
    logStreamName: "2026/01/15/[$LATEST]0123456789abcdef",
    getRemainingTimeInMillis: () => 900_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
