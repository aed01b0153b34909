import { ArnFormat } from "aws-cdk-lib";
import { describe, expect, it } from "vitest";
import {
  allPermissions,
  logicalId,
  permissions,
  permissionsOf,
  synthesize,
  type Permission,
  type Synthesized,
} from "./synth";

const endpointArn = (name: string) => ({
  "Fn::Join": [
    "",
    [
      "arn:",
      { Ref: "AWS::Partition" },
      ":sagemaker:",
      { Ref: "AWS::Region" },
      ":",
      { Ref: "AWS::AccountId" },
      `:endpoint/${name}`,
    ],
  ],
});

const listUnder = (...prefixes: string[]) => ({ StringLike: { "s3:prefix": prefixes.map((prefix) => `${prefix}*`) } });

/** What every client of an async endpoint needs on top of InvokeEndpointAsync. */
function asyncClientPermissions({ stack }: Synthesized): Permission[] {
  const bucket = stack.storage.outputBucket;
  return [
    ...["s3:PutObject", "s3:DeleteObject"].map((action) => ({
      action,
      resource: bucket.arnForObjects("async/requests/*"),
    })),
    ...["s3:GetObject", "s3:DeleteObject"].flatMap((action) =>
      ["async/outputs/*", "async/failures/*"].map((pattern) => ({ action, resource: bucket.arnForObjects(pattern) })),
    ),
    { action: "s3:ListBucket", resource: bucket.bucketArn, condition: listUnder("async/") },
  ];
}

function logPermissions(logGroupArn: string): Permission[] {
  return ["logs:CreateLogStream", "logs:PutLogEvents"].map((action) => ({ action, resource: logGroupArn }));
}

function segmentPermissions(synthesized: Synthesized): Permission[] {
  const { stack } = synthesized;
  const { inputBucket, outputBucket } = stack.storage;
  const { segment, queue } = stack.pipeline;
  const isAsync = stack.endpoint.mode === "async";
  return [
    ...logPermissions(segment.logGroup.logGroupArn),
    ...[
      "sqs:ReceiveMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueUrl",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
    ].map((action) => ({ action, resource: queue.queueArn })),
    { action: "s3:GetObject", resource: inputBucket.arnForObjects("input/*") },
    { action: "s3:GetObjectVersion", resource: inputBucket.arnForObjects("input/*") },
    { action: "s3:GetObject", resource: outputBucket.arnForObjects("output/*") },
    { action: "s3:PutObject", resource: outputBucket.arnForObjects("output/*") },
    { action: "s3:GetObject", resource: outputBucket.arnForObjects("jobs/*") },
    { action: "s3:ListBucket", resource: inputBucket.bucketArn, condition: listUnder("input/") },
    { action: "s3:ListBucket", resource: outputBucket.bucketArn, condition: listUnder("output/", "jobs/") },
    {
      action: isAsync ? "sagemaker:InvokeEndpointAsync" : "sagemaker:InvokeEndpoint",
      resource: endpointArn(stack.endpoint.endpointName),
    },
    ...(isAsync ? asyncClientPermissions(synthesized) : []),
  ];
}

function apiPermissions(synthesized: Synthesized): Permission[] {
  const { stack } = synthesized;
  const { inputBucket, outputBucket } = stack.storage;
  const isAsync = stack.endpoint.mode === "async";
  return [
    ...logPermissions(stack.api.handler.logGroup.logGroupArn),
    { action: "s3:PutObject", resource: inputBucket.arnForObjects("input/*") },
    { action: "s3:GetObject", resource: inputBucket.arnForObjects("input/*") },
    ...["s3:GetObject", "s3:PutObject"].flatMap((action) =>
      ["output/*", "jobs/*"].map((pattern) => ({ action, resource: outputBucket.arnForObjects(pattern) })),
    ),
    { action: "s3:ListBucket", resource: inputBucket.bucketArn, condition: listUnder("input/") },
    { action: "s3:ListBucket", resource: outputBucket.bucketArn, condition: listUnder("output/", "jobs/") },
    {
      action: isAsync ? "sagemaker:InvokeEndpointAsync" : "sagemaker:InvokeEndpoint",
      resource: endpointArn(stack.endpoint.endpointName),
    },
    ...(isAsync ? asyncClientPermissions(synthesized) : []),
  ];
}

function modelPermissions(synthesized: Synthesized): Permission[] {
  const { stack } = synthesized;
  const { outputBucket } = stack.storage;
  const { logGroup } = stack.endpoint;
  const logGroupArns = [
    logGroup.logGroupArn,
    stack.formatArn({
      service: "logs",
      resource: "log-group",
      resourceName: logGroup.logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    }),
  ];
  return [
    ...["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"].map((action) => ({
      action,
      resource: stack.endpoint.image.repository.repositoryArn,
    })),
    { action: "ecr:GetAuthorizationToken", resource: "*" },
    ...["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"].flatMap(
      (action) => logGroupArns.map((resource) => ({ action, resource })),
    ),
    {
      action: "cloudwatch:PutMetricData",
      resource: "*",
      condition: { StringEquals: { "cloudwatch:namespace": "/aws/sagemaker/Endpoints" } },
    },
    ...(stack.endpoint.mode === "async"
      ? [
          { action: "s3:GetObject", resource: outputBucket.arnForObjects("async/requests/*") },
          { action: "s3:PutObject", resource: outputBucket.arnForObjects("async/outputs/*") },
          { action: "s3:PutObject", resource: outputBucket.arnForObjects("async/failures/*") },
        ]
      : []),
  ];
}

describe.each(["realtime", "async"])("IAM with a %s endpoint", (endpointMode) => {
  const synthesized = synthesize({ endpointMode });
  const { stack, template } = synthesized;

  it("gives the segment function exactly what the pipeline calls", () => {
    expect(permissionsOf(template, stack.pipeline.segment.role)).toEqual(
      permissions(stack, segmentPermissions(synthesized)),
    );
  });

  it("gives the API function exactly what its routes call", () => {
    expect(permissionsOf(template, stack.api.handler.role)).toEqual(permissions(stack, apiPermissions(synthesized)));
  });

  it(
    "gives the endpoint's execution role the image, its logs and metrics, " +
      "and in async mode the request and answer prefixes",
    () => {
      expect(permissionsOf(template, stack.endpoint.executionRole)).toEqual(
        permissions(stack, modelPermissions(synthesized)),
      );
    },
  );

  it("lets SageMaker, and only SageMaker, assume the execution role", () => {
    expect(
      template.toJSON().Resources[logicalId(stack.endpoint.executionRole)].Properties.AssumeRolePolicyDocument
        .Statement,
    ).toEqual([{ Action: "sts:AssumeRole", Effect: "Allow", Principal: { Service: "sagemaker.amazonaws.com" } }]);
  });

  it('never allows an S3 or SageMaker action on Resource "*"', () => {
    const wildcards = allPermissions(template).filter(
      ({ action, resource }) => /^(s3|sagemaker):/.test(action) && resource === "*",
    );
    expect(wildcards).toEqual([]);
  });

  it("attaches no managed policy to the functions' or the endpoint's roles", () => {
    for (const role of [stack.pipeline.segment.role, stack.api.handler.role, stack.endpoint.executionRole]) {
      expect(template.toJSON().Resources[logicalId(role)].Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});
