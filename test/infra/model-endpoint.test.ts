import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { endpointNameFor } from "../../infra/constructs/model-endpoint";
import { getAtt, logicalId, ref, synthesize } from "./synth";

const SERVICE_LINKED_ROLE_ARN = {
  "Fn::Join": [
    "",
    [
      "arn:",
      { Ref: "AWS::Partition" },
      ":iam::",
      { Ref: "AWS::AccountId" },
      ":role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/" +
        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
    ],
  ],
};

describe("model endpoint", () => {
  const { stack, template } = synthesize();
  const { endpoint } = stack;

  it("runs the model container image with its own execution role, on CUDA or not at all", () => {
    template.resourceCountIs("AWS::SageMaker::Model", 1);
    const model = template.toJSON().Resources[logicalId(endpoint.model)];
    expect(model.Properties.ExecutionRoleArn).toEqual(getAtt(endpoint.executionRole, "Arn"));
    expect(JSON.stringify(model.Properties.PrimaryContainer.Image)).toContain(`:${endpoint.image.imageTag}`);
    // A server that fell back to the CPU must fail its health check, not serve at CPU speed.
    expect(model.Properties.PrimaryContainer.Environment).toEqual({ CELLSEG_EXECUTION_PROVIDER: "cuda" });
    // The role's policy must exist before SageMaker checks it.
    expect(model.DependsOn).toEqual(
      expect.arrayContaining([
        logicalId(endpoint.executionRole),
        expect.stringMatching(/^ModelExecutionRoleDefaultPolicy/),
      ]),
    );
  });

  it(
    "serves one variant on the default GPU instance type, on the AMI whose driver runs the container's CUDA, " +
      "with time for the ensemble to load",
    () => {
      template.hasResourceProperties("AWS::SageMaker::EndpointConfig", {
        ProductionVariants: [
          {
            VariantName: "AllTraffic",
            ModelName: getAtt(endpoint.model, "ModelName"),
            InstanceType: "ml.g4dn.xlarge",
            InitialInstanceCount: 1,
            InitialVariantWeight: 1,
            ContainerStartupHealthCheckTimeoutInSeconds: 600,
            InferenceAmiVersion: "al2-ami-sagemaker-inference-gpu-3-1",
          },
        ],
        AsyncInferenceConfig: Match.absent(),
      });
    },
  );

  it("keeps the autoscaled instance count when a new configuration is deployed", () => {
    template.hasResourceProperties("AWS::SageMaker::Endpoint", { RetainAllVariantProperties: true });
  });

  it("replaces the endpoint when the instance type or the mode changes: its name carries both", () => {
    const names = [{}, { instanceType: "ml.g5.xlarge" }, { endpointMode: "async" as const }].map(
      (context) =>
        synthesize(context).template.toJSON().Resources[logicalId(endpoint.endpoint)].Properties.EndpointName,
    );
    expect(names).toEqual(["cellseg-g4dn-xlarge-realtime", "cellseg-g5-xlarge-realtime", "cellseg-g4dn-xlarge-async"]);
    expect(() => endpointNameFor("x".repeat(41), "ml.p4de.24xlarge", "realtime")).toThrow(
      /longer than SageMaker's 63 characters/,
    );
  });

  it("names the endpoint after the stack, in lower case as SageMaker's ARNs are", () => {
    template.hasResourceProperties("AWS::SageMaker::Endpoint", {
      EndpointName: "cellseg-g4dn-xlarge-realtime",
      EndpointConfigName: getAtt(endpoint.endpointConfig, "EndpointConfigName"),
    });
    expect(
      synthesize({ stackName: "Cellseg-Dev" }).template.toJSON().Resources[logicalId(endpoint.endpoint)].Properties
        .EndpointName,
    ).toBe("cellseg-dev-g4dn-xlarge-realtime");
  });

  it("keeps the container's logs in a log group with a retention", () => {
    template.hasResourceProperties("AWS::Logs::LogGroup", {
      LogGroupName: "/aws/sagemaker/Endpoints/cellseg-g4dn-xlarge-realtime",
      RetentionInDays: 30,
    });
  });

  it("takes the instance type from the context", () => {
    synthesize({ instanceType: "ml.g5.xlarge" }).template.hasResourceProperties("AWS::SageMaker::EndpointConfig", {
      ProductionVariants: [Match.objectLike({ InstanceType: "ml.g5.xlarge" })],
    });
  });

  it("scales between 1 and 2 instances on invocations per instance, through SageMaker's service-linked role", () => {
    const targets = template.findResources("AWS::ApplicationAutoScaling::ScalableTarget");
    expect(Object.values(targets)).toHaveLength(1);
    const [target] = Object.values(targets) as { Properties: Record<string, unknown>; DependsOn: string[] }[];
    expect(target.Properties).toMatchObject({
      ServiceNamespace: "sagemaker",
      ResourceId: "endpoint/cellseg-g4dn-xlarge-realtime/variant/AllTraffic",
      ScalableDimension: "sagemaker:variant:DesiredInstanceCount",
      MinCapacity: 1,
      MaxCapacity: 2,
      RoleARN: SERVICE_LINKED_ROLE_ARN,
    });
    // Registered only once the endpoint (and its variant) exists.
    expect(target.DependsOn).toContain(logicalId(endpoint.endpoint));
    template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalingPolicy", {
      PolicyType: "TargetTrackingScaling",
      TargetTrackingScalingPolicyConfiguration: {
        PredefinedMetricSpecification: { PredefinedMetricType: "SageMakerVariantInvocationsPerInstance" },
        TargetValue: 120,
        ScaleInCooldown: 600,
        ScaleOutCooldown: 300,
      },
    });
    template.resourceCountIs("AWS::ApplicationAutoScaling::ScalingPolicy", 1);
  });

  it("takes the instance range and the scaling target from the context", () => {
    const custom = synthesize({ minInstances: "2", maxInstances: "6", targetInvocationsPerInstance: "300" });
    custom.template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", {
      MinCapacity: 2,
      MaxCapacity: 6,
    });
    custom.template.hasResourceProperties("AWS::SageMaker::EndpointConfig", {
      ProductionVariants: [Match.objectLike({ InitialInstanceCount: 2 })],
    });
    custom.template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalingPolicy", {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 300 }),
    });
  });
});

describe("async model endpoint", () => {
  const { stack, template } = synthesize({ endpointMode: "async" });
  const { endpoint, autoscaling } = stack;
  const s3Location = (folder: string) => ({
    "Fn::Join": ["", ["s3://", ref(stack.storage.outputBucket), `/async/${folder}/`]],
  });
  const backlogMetric = (metricName: string) => ({
    MetricName: metricName,
    Namespace: "AWS/SageMaker",
    Dimensions: [{ Name: "EndpointName", Value: "cellseg-g4dn-xlarge-async" }],
  });

  it("answers through the output bucket's async/ prefix, a bounded number of requests per instance at once", () => {
    template.hasResourceProperties("AWS::SageMaker::EndpointConfig", {
      AsyncInferenceConfig: {
        OutputConfig: { S3OutputPath: s3Location("outputs"), S3FailurePath: s3Location("failures") },
        ClientConfig: { MaxConcurrentInvocationsPerInstance: 2 },
      },
      // Created with an instance; it scales in to zero when idle.
      ProductionVariants: [Match.objectLike({ InitialInstanceCount: 1 })],
    });
  });

  it("scales down to zero instances", () => {
    template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", {
      ResourceId: "endpoint/cellseg-g4dn-xlarge-async/variant/AllTraffic",
      MinCapacity: 0,
      MaxCapacity: 2,
    });
  });

  it("tracks the backlog per instance", () => {
    template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalingPolicy", {
      PolicyType: "TargetTrackingScaling",
      ScalingTargetId: ref(autoscaling.target),
      TargetTrackingScalingPolicyConfiguration: {
        CustomizedMetricSpecification: { ...backlogMetric("ApproximateBacklogSizePerInstance"), Statistic: "Average" },
        TargetValue: 5,
        ScaleInCooldown: 600,
        ScaleOutCooldown: 300,
      },
    });
  });

  it("adds an instance when requests wait while there is none (HasBacklogWithoutCapacity)", () => {
    const stepPolicies = template.findResources("AWS::ApplicationAutoScaling::ScalingPolicy", {
      Properties: { PolicyType: "StepScaling" },
    });
    expect(Object.keys(stepPolicies)).toHaveLength(1);
    const [stepPolicyId] = Object.keys(stepPolicies);
    expect(stepPolicies[stepPolicyId].Properties).toMatchObject({
      ScalingTargetId: ref(autoscaling.target),
      StepScalingPolicyConfiguration: {
        AdjustmentType: "ChangeInCapacity",
        MetricAggregationType: "Average",
        StepAdjustments: [{ MetricIntervalLowerBound: 0, ScalingAdjustment: 1 }],
      },
    });
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      ...backlogMetric("HasBacklogWithoutCapacity"),
      Statistic: "Average",
      Period: 60,
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: "missing",
      AlarmActions: [{ Ref: stepPolicyId }],
    });
    expect(autoscaling.backlogWithoutCapacityAlarm).toBeDefined();
  });

  it("has no scale-from-zero machinery in realtime mode", () => {
    const realtime = synthesize().template;
    expect(
      realtime.findResources("AWS::ApplicationAutoScaling::ScalingPolicy", {
        Properties: { PolicyType: "StepScaling" },
      }),
    ).toEqual({});
    expect(JSON.stringify(realtime.findResources("AWS::CloudWatch::Alarm"))).not.toContain("HasBacklogWithoutCapacity");
    expect(endpoint.mode).toBe("async");
  });
});
