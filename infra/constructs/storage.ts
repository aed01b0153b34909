/**
 * The buckets: uploads (input), results (output) and the server access logs of both. The key layout is
 * the pipeline's (core/schemas/object-keys.ts); the output bucket also holds the asynchronous endpoint's
 * requests and answers under `async/`.
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, type BucketProps } from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { KEY_PREFIXES } from "../../core/schemas/object-keys";

/** Where things live in the output bucket besides the pipeline's own prefixes. */
export const ASYNC_INFERENCE_PREFIX = "async/";

/** Under {@link ASYNC_INFERENCE_PREFIX}: the requests the functions write, and where SageMaker answers. */
export const ASYNC_INFERENCE_FOLDERS = { requests: "requests/", outputs: "outputs/", failures: "failures/" } as const;

/** An async request or answer is read within minutes or never; a day covers any retry. */
const ASYNC_INFERENCE_RETENTION = Duration.days(1);
/** Old versions of a replaced upload are no longer segmented (their events are stale). */
const REPLACED_UPLOAD_RETENTION = Duration.days(30);
const ACCESS_LOG_RETENTION = Duration.days(90);
/** Presigned uploads are single PUTs; a multipart upload left unfinished for a day is abandoned. */
const INCOMPLETE_UPLOAD_LIMIT = Duration.days(1);

/**
 * Every bucket: encrypted (S3-managed keys, no KMS key to pay for or share with S3 notifications and
 * SageMaker), private, TLS only, no ACLs, and kept when the stack is deleted (they hold user data).
 */
const privateBucket: BucketProps = {
  encryption: BucketEncryption.S3_MANAGED,
  blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
  enforceSSL: true,
  minimumTLSVersion: 1.2,
  objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
  removalPolicy: RemovalPolicy.RETAIN,
};

export interface StorageProps {
  /** How long results, status documents and job records stay in the output bucket. */
  readonly resultRetention: Duration;
  /** How long uploads stay in the input bucket. @default - kept until deleted */
  readonly inputRetention?: Duration;
}

export class Storage extends Construct {
  readonly inputBucket: Bucket;
  readonly outputBucket: Bucket;
  readonly accessLogBucket: Bucket;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    this.accessLogBucket = new Bucket(this, "AccessLogs", {
      ...privateBucket,
      lifecycleRules: [{ id: "expire-access-logs", expiration: ACCESS_LOG_RETENTION }],
    });

    this.inputBucket = new Bucket(this, "Input", {
      ...privateBucket,
      ...this.accessLogging("input/"),
      // The run id of a job derives from the object's version, so a replaced upload is a new run.
      versioned: true,
      lifecycleRules: [
        { id: "expire-replaced-uploads", noncurrentVersionExpiration: REPLACED_UPLOAD_RETENTION },
        // Expiring a current version leaves a delete marker (the bucket is versioned); its old version then
        // expires like a replaced upload's.
        ...(props.inputRetention
          ? [{ id: "expire-uploads", prefix: KEY_PREFIXES.input, expiration: props.inputRetention }]
          : []),
        { id: "abort-incomplete-uploads", abortIncompleteMultipartUploadAfter: INCOMPLETE_UPLOAD_LIMIT },
      ],
    });

    this.outputBucket = new Bucket(this, "Output", {
      ...privateBucket,
      ...this.accessLogging("output/"),
      lifecycleRules: [
        ...[KEY_PREFIXES.output, KEY_PREFIXES.jobs].map((prefix) => ({
          id: `expire-${prefix.slice(0, -1)}`,
          prefix,
          expiration: props.resultRetention,
        })),
        { id: "expire-async-inference", prefix: ASYNC_INFERENCE_PREFIX, expiration: ASYNC_INFERENCE_RETENTION },
        { id: "abort-incomplete-uploads", abortIncompleteMultipartUploadAfter: INCOMPLETE_UPLOAD_LIMIT },
      ],
    });
  }

  private accessLogging(prefix: string): Pick<BucketProps, "serverAccessLogsBucket" | "serverAccessLogsPrefix"> {
    return { serverAccessLogsBucket: this.accessLogBucket, serverAccessLogsPrefix: prefix };
  }
}
