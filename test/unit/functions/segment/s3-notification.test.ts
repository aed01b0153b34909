import { describe, expect, it } from "vitest";
import { encodeS3EventKey, s3NotificationSchema } from "../../../../functions/segment/s3-notification";

describe("s3NotificationSchema", () => {
  const notification = (key: string) => ({
    Records: [
      {
        eventVersion: "2.1",
        eventSource: "aws:s3",
        awsRegion: "eu-west-1",
        eventTime: "2026-01-15T10:12:03.512Z",
        eventName: "ObjectCreated:Put",
        // IPv6, which Powertools' own S3 schema would refuse: this schema reads only what it uses.
        requestParameters: { sourceIPAddress: "2001:db8::1" },
        s3: { bucket: { name: "in" }, object: { key, size: 10, eTag: "abc" } },
      },
    ],
  });

  it("decodes keys as S3 encodes them in events", () => {
    // Act
    const parsed = s3NotificationSchema.parse(notification(encodeS3EventKey("input/job 1/a+b ü.png")));

    // Assess
    expect("Records" in parsed && parsed.Records[0].s3.object.key).toBe("input/job 1/a+b ü.png");
  });

  it("accepts S3's test event and refuses anything else", () => {
    expect(s3NotificationSchema.parse({ Service: "Amazon S3", Event: "s3:TestEvent", Bucket: "in" })).toMatchObject({
      Event: "s3:TestEvent",
    });
    expect(s3NotificationSchema.safeParse({ hello: "world" }).success).toBe(false);
    expect(s3NotificationSchema.safeParse(notification("input/%E0%A4%A.png")).success).toBe(false);
  });
});
