/**
 * The segment function's trigger: the body of an SQS message from an S3 bucket notification, in AWS's
 * format (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html). The
 * local stack writes the same bodies (functions/local), so the handler reads one format everywhere.
 */
import { z } from "zod";

/**
 * A key as S3 writes it in a notification: URL-encoded, spaces as '+', slashes kept.
 *
 * @example
 * ```ts
 * encodeS3EventKey("input/job 1/a+b.png"); // "input/job+1/a%2Bb.png"
 * ```
 */
export function encodeS3EventKey(key: string): string {
  return key
    .split("/")
    .map((segment) => encodeURIComponent(segment).replaceAll("%20", "+"))
    .join("/");
}

/**
 * S3 writes object keys URL-encoded in its notifications, spaces as '+'
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
 */
const eventKeySchema = z
  .string()
  .min(1)
  .transform((key, ctx) => {
    try {
      return decodeURIComponent(key.replaceAll("+", " "));
    } catch {
      ctx.addIssue({ code: "custom", message: `object key "${key}" is not URL-encoded as S3 writes keys in events` });
      return z.NEVER;
    }
  });

/**
 * One record of an S3 event notification: only the fields the pipeline uses, so that a field S3 adds or
 * formats differently (an IPv6 `sourceIPAddress`, say) does not make a valid event fail. `key` is decoded.
 */
export const s3EventRecordSchema = z.object({
  eventSource: z.literal("aws:s3"),
  eventName: z.string(),
  eventTime: z.iso.datetime(),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: eventKeySchema,
      size: z.number().int().nonnegative().optional(),
      eTag: z.string().min(1).optional(),
      versionId: z.string().min(1).optional(),
      sequencer: z.string().optional(),
    }),
  }),
});

/** The message S3 sends once when a notification configuration is created; it names no object. */
export const s3TestEventSchema = z.object({ Service: z.literal("Amazon S3"), Event: z.literal("s3:TestEvent") });

/**
 * The body of an SQS message from an S3 bucket notification: a notification with one or more records, or
 * S3's test event. The SQS envelope around it is parsed separately (Powertools' SQS record schema).
 *
 * @example
 * ```ts
 * const body = s3NotificationSchema.parse(JSON.parse(record.body));
 * const objects = "Records" in body ? body.Records.map((r) => r.s3.object.key) : [];
 * ```
 */
export const s3NotificationSchema = z.union([
  z.object({ Records: z.array(s3EventRecordSchema).min(1) }),
  s3TestEventSchema,
]);
export type S3EventRecord = z.infer<typeof s3EventRecordSchema>;
export type S3Notification = z.infer<typeof s3NotificationSchema>;
