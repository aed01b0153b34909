/**
 * cdk-nag acknowledgements. cdk-nag 3 runs as a CDK validation plugin: synthesis stops on any finding that
 * is not acknowledged on the resource or one of its parents. Each construct acknowledges its own findings,
 * next to the resource, with the reason the rule does not fit; these helpers only spell the finding ids.
 */
import { Stack, Validations, type CfnResource } from "aws-cdk-lib";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import type { IConstruct } from "constructs";

/** The AWS Solutions rule pack's prefix, as in `AwsSolutions-IAM5`. */
const PACK = "AwsSolutions";

/**
 * Acknowledges one finding on `scope` and everything under it.
 *
 * @example
 * ```ts
 * acknowledge(fn, "L1", "the runtime is pinned to Node.js 22, the version the code is tested with");
 * acknowledge(role, wildcardResource(bucket, "input/*"), "objects of the input prefix only");
 * ```
 */
export function acknowledge(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `${PACK}-${rule}`, reason });
}

/**
 * The IAM5 (wildcard permission) finding of a statement on the objects under a key pattern of a bucket,
 * spelled as cdk-nag flattens the bucket's ARN: `IAM5[Resource::<InputBucket1234.Arn>/input/*]`.
 */
export function wildcardObjects(bucket: IBucket, keyPattern: string): string {
  const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as CfnResource);
  return `IAM5[Resource::<${logicalId}.Arn>/${keyPattern}]`;
}

/** The IAM5 finding of a statement on every resource (`Resource: *`). */
export const WILDCARD_RESOURCE = "IAM5[Resource::*]";
