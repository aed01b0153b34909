/**
 * The batch pipeline: an upload under `input/` notifies a queue, and the segment function consumes it, one
 * image per invocation, reporting partial batch failures; a message that keeps failing moves to the
 * dead-letter queue.
 */
import { Duration, Stack } from "aws-cdk-lib";
import { PolicyStatement, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import {
  BucketNotificationDestinationType,
  EventType,
  type BucketNotificationDestinationConfig,
  type IBucket,
  type IBucketNotificationDestination,
} from "aws-cdk-lib/aws-s3";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { Queue, QueueEncryption, type IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { KEY_PREFIXES } from "../../core/schemas/object-keys";
import { grantList, grantObjects } from "../bucket-access";
import { acknowledge } from "../nag";
import { CellsegFunction, type FunctionSettings } from "./cellseg-function";
import type { ModelEndpoint } from "./model-endpoint";

/**
 * The segment function's Powertools service name: the `service` dimension of its metrics
 * (functions/segment/handler.ts).
 */
export const SEGMENT_SERVICE_NAME = "cellseg-segment";

/**
 * AWS's advice for an SQS event source: a visibility timeout of six times the function's timeout, so that
 * a message is not delivered again while an invocation (and its retries of throttled batches) may still
 * be working on it.
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

/** CDK's singleton that applies bucket notifications (aws-s3's BucketNotificationsHandler id). */
const BUCKET_NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834";

export interface SegmentPipelineProps {
  readonly function: FunctionSettings;
  readonly inputBucket: IBucket;
  readonly outputBucket: IBucket;
  readonly endpoint: ModelEndpoint;
  /** Segment invocations the queue runs at once (the event source's maximum concurrency). */
  readonly maxConcurrency: number;
  /** Deliveries of a message before it moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
}

/**
 * The queue as the input bucket's notification target, sent to by S3 for that bucket of this account only:
 * the aws:SourceArn condition of CDK's SqsDestination alone names a bucket, and bucket names are global (a
 * bucket of that name in another account after this one's is deleted could publish). The queue's
 * SQS-managed encryption needs no KMS grant.
 */
class AccountScopedQueueDestination implements IBucketNotificationDestination {
  constructor(private readonly queue: IQueue) {}

  bind(_scope: Construct, bucket: IBucket): BucketNotificationDestinationConfig {
    this.queue.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal("s3.amazonaws.com")],
        actions: ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
        resources: [this.queue.queueArn],
        conditions: {
          ArnLike: { "aws:SourceArn": bucket.bucketArn },
          StringEquals: { "aws:SourceAccount": Stack.of(bucket).account },
        },
      }),
    );
    return { arn: this.queue.queueArn, type: BucketNotificationDestinationType.QUEUE, dependencies: [this.queue] };
  }
}

export class SegmentPipeline extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly segment: CellsegFunction;

  constructor(scope: Construct, id: string, props: SegmentPipelineProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, "DeadLetterQueue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows: time to find out why an image failed and redrive it.
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, "Queue", {
      // SQS-managed keys: S3 can publish to the queue without a KMS key policy for s3.amazonaws.com.
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(props.function.timeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });

    props.inputBucket.addEventNotification(EventType.OBJECT_CREATED, new AccountScopedQueueDestination(this.queue), {
      prefix: KEY_PREFIXES.input,
    });
    this.acknowledgeNotificationsHandler();

    this.segment = new CellsegFunction(this, "Segment", {
      entry: "functions/segment/handler.ts",
      description: "cellseg: segments each image uploaded under input/ and writes its results under output/",
      serviceName: SEGMENT_SERVICE_NAME,
      nativeModules: ["sharp"],
      ...props.function,
    });
    this.segment.function.addEventSource(
      new SqsEventSource(this.queue, {
        // One image per invocation: each gets the whole timeout, and a failure redelivers only itself.
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: props.maxConcurrency,
      }),
    );
    this.grantPipelineAccess(props);
  }

  /** Exactly what functions/pipeline does with the buckets (see core/schemas/object-keys.ts for the layout). */
  private grantPipelineAccess(props: SegmentPipelineProps): void {
    const { role } = this.segment;
    grantObjects(role, props.inputBucket, {
      actions: ["s3:GetObject", "s3:GetObjectVersion"],
      prefixes: [KEY_PREFIXES.input],
      why:
        "Reads the uploaded image (the version its event names) under input/<jobId>/<fileName>; the keys are " +
        "chosen by the uploader.",
    });
    grantObjects(role, props.outputBucket, {
      actions: ["s3:GetObject", "s3:PutObject"],
      prefixes: [KEY_PREFIXES.output],
      why:
        "Writes and re-reads each image's status document, claims and results under " +
        "output/<jobId>/<fileName>/; the keys are per job and image.",
    });
    grantObjects(role, props.outputBucket, {
      actions: ["s3:GetObject"],
      prefixes: [KEY_PREFIXES.jobs],
      why:
        "Reads the job manifest the API wrote (jobs/<jobId>/job.json) for the pixel size the job's " +
        "measurements use; the keys are per job.",
    });
    // Listing the prefixes also makes a missing key a 404 (a deleted upload, a status not yet written, a job
    // dropped into the bucket without the API, so without a manifest), not a 403.
    grantList(role, props.inputBucket, [KEY_PREFIXES.input]);
    grantList(role, props.outputBucket, [KEY_PREFIXES.output, KEY_PREFIXES.jobs]);
    props.endpoint.grantInvoke(role);
  }

  /**
   * S3 notifications are applied by a CDK-provided function, a singleton of the stack whose role CDK
   * writes; its finding is acknowledged on that function, not on ours.
   */
  private acknowledgeNotificationsHandler(): void {
    const handler = Stack.of(this).node.tryFindChild(BUCKET_NOTIFICATIONS_HANDLER_ID);
    if (handler === undefined)
      throw new Error("CDK's bucket notifications handler was not found: has its construct id changed?");
    acknowledge(
      handler,
      "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
      "CDK's bucket-notification custom resource runs only while CloudFormation configures the input " +
        "bucket's notification. Its AWS-managed AWSLambdaBasicExecutionRole lets it create and write any log " +
        "group of the account (Resource *), not only its own; CDK writes this role and offers no narrower one " +
        "for the singleton.",
    );
  }
}
