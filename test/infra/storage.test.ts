import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { logicalId, ref, synthesize } from "./synth";

describe("storage", () => {
  const { stack, template } = synthesize();
  const { inputBucket, outputBucket, accessLogBucket } = stack.storage;
  const buckets = { input: inputBucket, output: outputBucket, accessLogs: accessLogBucket };
  const bucketResource = (bucket: typeof inputBucket) => template.toJSON().Resources[logicalId(bucket)];

  it("creates the input, output and access-log buckets, and keeps them when the stack is deleted", () => {
    // And the web console's two (its files, its CDN logs: web-console.test.ts).
    template.resourceCountIs("AWS::S3::Bucket", 3 + 2);
    for (const bucket of Object.values(buckets)) {
      expect(bucketResource(bucket)).toMatchObject({ DeletionPolicy: "Retain", UpdateReplacePolicy: "Retain" });
    }
  });

  it.each(Object.entries(buckets))("encrypts the %s bucket, blocks public access and disables ACLs", (_, bucket) => {
    expect(bucketResource(bucket).Properties).toMatchObject({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] },
    });
  });

  it.each(Object.entries(buckets))("refuses requests to the %s bucket without TLS 1.2", (_, bucket) => {
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: ref(bucket),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: "Deny",
            Action: "s3:*",
            Principal: { AWS: "*" },
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
          Match.objectLike({
            Effect: "Deny",
            Action: "s3:*",
            Condition: { NumericLessThan: { "s3:TlsVersion": 1.2 } },
          }),
        ]),
      },
    });
  });

  it("versions the input bucket only: a replaced upload is a new run", () => {
    expect(bucketResource(inputBucket).Properties.VersioningConfiguration).toEqual({ Status: "Enabled" });
    expect(bucketResource(outputBucket).Properties.VersioningConfiguration).toBeUndefined();
  });

  it("logs requests to the input and output buckets in the access-log bucket", () => {
    expect(bucketResource(inputBucket).Properties.LoggingConfiguration).toEqual({
      DestinationBucketName: ref(accessLogBucket),
      LogFilePrefix: "input/",
    });
    expect(bucketResource(outputBucket).Properties.LoggingConfiguration).toEqual({
      DestinationBucketName: ref(accessLogBucket),
      LogFilePrefix: "output/",
    });
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: ref(accessLogBucket),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: "s3:PutObject", Principal: { Service: "logging.s3.amazonaws.com" } }),
        ]),
      },
    });
  });

  it("expires results and job records after the retention, async inference files after a day", () => {
    expect(bucketResource(outputBucket).Properties.LifecycleConfiguration.Rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Prefix: "output/", ExpirationInDays: 30, Status: "Enabled" }),
        expect.objectContaining({ Prefix: "jobs/", ExpirationInDays: 30, Status: "Enabled" }),
        expect.objectContaining({ Prefix: "async/", ExpirationInDays: 1, Status: "Enabled" }),
        expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
      ]),
    );
  });

  it("takes the result retention from the context", () => {
    const { stack: custom, template: customTemplate } = synthesize({ resultRetentionDays: "7" });
    const rules =
      customTemplate.toJSON().Resources[logicalId(custom.storage.outputBucket)].Properties.LifecycleConfiguration.Rules;
    expect(
      rules
        .filter((rule: { Prefix?: string }) => rule.Prefix === "output/" || rule.Prefix === "jobs/")
        .map((rule: { ExpirationInDays: number }) => rule.ExpirationInDays),
    ).toEqual([7, 7]);
  });

  it("expires uploads after inputRetentionDays when it is set", () => {
    const { stack: custom, template: customTemplate } = synthesize({ inputRetentionDays: "14" });
    const rules =
      customTemplate.toJSON().Resources[logicalId(custom.storage.inputBucket)].Properties.LifecycleConfiguration.Rules;
    expect(rules).toEqual(
      expect.arrayContaining([expect.objectContaining({ Prefix: "input/", ExpirationInDays: 14, Status: "Enabled" })]),
    );
  });

  it("keeps uploads by default, but expires replaced versions of them and the access logs", () => {
    expect(bucketResource(inputBucket).Properties.LifecycleConfiguration.Rules).toEqual(
      expect.arrayContaining([expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 30 } })]),
    );
    expect(
      bucketResource(inputBucket).Properties.LifecycleConfiguration.Rules.some(
        (rule: { ExpirationInDays?: number }) => rule.ExpirationInDays,
      ),
    ).toBe(false);
    expect(bucketResource(accessLogBucket).Properties.LifecycleConfiguration.Rules).toEqual([
      expect.objectContaining({ ExpirationInDays: 90 }),
    ]);
  });
});
