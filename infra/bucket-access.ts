/**
 * Least-privilege S3 access by key prefix. CDK's `bucket.grantRead`/`grantWrite` hand out action groups
 * (`s3:GetObject*`, `s3:List*`, ...) on the whole bucket; the functions and the model get exactly the
 * actions they call, on the prefixes they use.
 */
import { PolicyStatement, type Role } from "aws-cdk-lib/aws-iam";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import { acknowledge, wildcardObjects } from "./nag";

export interface ObjectAccess {
  /** Object-level actions, e.g. `s3:GetObject`. */
  readonly actions: readonly string[];
  /** Key prefixes, each ending with `/`. */
  readonly prefixes: readonly string[];
  /** Why the role needs them; becomes the reason of the wildcard-resource acknowledgement. */
  readonly why: string;
}

/**
 * Allows `actions` on the objects under each prefix (`<bucket ARN>/<prefix>*`). The keys under a prefix are
 * made per job and image, so the statement needs the wildcard; its cdk-nag finding is acknowledged with `why`.
 *
 * @example
 * ```ts
 * grantObjects(role, inputBucket, {
 *   actions: ["s3:GetObject"],
 *   prefixes: ["input/"],
 *   why: "reads the uploaded images",
 * });
 * ```
 */
export function grantObjects(role: Role, bucket: IBucket, access: ObjectAccess): void {
  role.addToPrincipalPolicy(
    new PolicyStatement({
      actions: [...access.actions],
      resources: access.prefixes.map((prefix) => bucket.arnForObjects(`${prefix}*`)),
    }),
  );
  for (const prefix of access.prefixes) acknowledge(role, wildcardObjects(bucket, `${prefix}*`), access.why);
}

/**
 * Allows `s3:ListBucket` on the bucket for keys under the prefixes only. Besides listing, this is what makes
 * S3 answer 404 rather than 403 for a missing key under them, which the pipeline relies on to tell "not
 * there yet" from "not allowed".
 *
 * @example
 * ```ts
 * grantList(role, outputBucket, ["output/"]);
 * ```
 */
export function grantList(role: Role, bucket: IBucket, prefixes: readonly string[]): void {
  role.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ["s3:ListBucket"],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { "s3:prefix": prefixes.map((prefix) => `${prefix}*`) } },
    }),
  );
}
