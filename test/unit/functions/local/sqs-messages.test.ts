import { SqsRecordSchema } from "@aws-lambda-powertools/parser/schemas/sqs";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { s3NotificationSchema } from "../../../../functions/segment/s3-notification";
import { s3NotificationBody, sqsRecord, type QueuedMessage } from "../../../../functions/local/sqs-messages";

const EVENT_TIME = new Date("2025-05-06T07:08:09.010Z");

function recordsOf(body: string) {
  const parsed = s3NotificationSchema.parse(JSON.parse(body));
  if (!("Records" in parsed)) throw new Error("expected a notification with records");
  return parsed.Records;
}

describe("s3NotificationBody", () => {
  it.each([
    ["input/job-1/a.png"],
    ["input/job 1/plate 1/a b.tif"],
    ["input/job-1/a+b=c&d.png"],
    ["input/job-1/100% ü é 細胞.png"],
    ["input/job-1/ +%2B.png"],
  ])("carries the key %j, URL-encoded as S3 writes it, back to the same key", (key) => {
    // Act
    const body = s3NotificationBody({ bucket: "cellseg", key }, EVENT_TIME);

    // Assess
    const [record] = recordsOf(body);
    expect(record!.s3.object.key).toBe(key);
  });

  it("writes spaces as '+' and '+' as %2B, keeping slashes", () => {
    // Act
    const raw = JSON.parse(s3NotificationBody({ bucket: "cellseg", key: "input/job 1/a+b.png" }, EVENT_TIME)) as {
      Records: { s3: { object: { key: string } } }[];
    };

    // Assess
    expect(raw.Records[0]!.s3.object.key).toBe("input/job+1/a%2Bb.png");
  });

  it("describes the object as an ObjectCreated:Put event of the bucket", () => {
    // Act
    const [record] = recordsOf(
      s3NotificationBody(
        { bucket: "cellseg", key: "input/j/a.png", etag: "abc123", size: 42, versionId: "v7" },
        EVENT_TIME,
      ),
    );

    // Assess
    expect(record).toMatchObject({
      eventSource: "aws:s3",
      eventName: "ObjectCreated:Put",
      eventTime: "2025-05-06T07:08:09.010Z",
      s3: { bucket: { name: "cellseg" }, object: { key: "input/j/a.png", eTag: "abc123", size: 42, versionId: "v7" } },
    });
  });

  it("leaves out what it was not told", () => {
    const [record] = recordsOf(s3NotificationBody({ bucket: "cellseg", key: "input/j/a.png" }, EVENT_TIME));

    expect(record!.s3.object).not.toHaveProperty("eTag");
    expect(record!.s3.object).not.toHaveProperty("size");
    expect(record!.s3.object).not.toHaveProperty("versionId");
  });
});

describe("sqsRecord", () => {
  const message = (overrides: Partial<QueuedMessage> = {}): QueuedMessage => ({
    messageId: "7d3c1f2e-0000-4000-8000-000000000001",
    body: s3NotificationBody({ bucket: "cellseg", key: "input/job 1/a+b.png", etag: "e1", size: 3 }, EVENT_TIME),
    sentAt: 1_700_000_000_000,
    receiveCount: 2,
    firstReceivedAt: 1_700_000_000_500,
    ...overrides,
  });

  it("is a record Powertools' SqsRecordSchema accepts, whose body is an S3 notification", () => {
    // Act
    const record = SqsRecordSchema.parse(sqsRecord(message()));

    // Assess
    expect(record.eventSource).toBe("aws:sqs");
    expect(recordsOf(record.body)[0]!.s3.object.key).toBe("input/job 1/a+b.png");
  });

  it("carries the receive count and timestamps as SQS does, as strings", () => {
    // Act
    const record = sqsRecord(message());

    // Assess
    expect(record.attributes).toMatchObject({
      ApproximateReceiveCount: "2",
      SentTimestamp: "1700000000000",
      ApproximateFirstReceiveTimestamp: "1700000000500",
    });
    expect(record.messageId).toBe("7d3c1f2e-0000-4000-8000-000000000001");
  });

  it("dates the first receipt at sending when the message was never received", () => {
    const { firstReceivedAt: _, ...never } = message({ receiveCount: 0 });

    expect(sqsRecord(never).attributes.ApproximateFirstReceiveTimestamp).toBe("1700000000000");
  });

  it("gives each delivery its own receipt handle, and the body's MD5", () => {
    // Act
    const first = sqsRecord(message({ receiveCount: 1 }));
    const second = sqsRecord(message({ receiveCount: 2 }));

    // Assess
    expect(first.receiptHandle).not.toBe(second.receiptHandle);
    expect(first.md5OfBody).toBe(createHash("md5").update(first.body).digest("hex"));
  });
});
