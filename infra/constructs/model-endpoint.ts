/**
 * The SageMaker endpoint that serves the model container: its execution role, model, endpoint
 * configuration (real-time, or asynchronous inference through the output bucket) and endpoint. Clients
 * get the endpoint's environment variables and exactly the permissions the mode needs from here.
 */
import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import { Metric, type MetricOptions } from "aws-cdk-lib/aws-cloudwatch";
import type { DockerImageAsset } from "aws-cdk-lib/aws-ecr-assets";
import { PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import { CfnEndpoint, CfnEndpointConfig, CfnModel } from "aws-cdk-lib/aws-sagemaker";
import { Construct } from "constructs";
import { grantList, grantObjects } from "../bucket-access";
import type { EndpointMode } from "../config";
import { WILDCARD_RESOURCE, acknowledge } from "../nag";
import { GPU_RUNTIME } from "../gpu-runtime";
import { modelImage } from "./model-image";
import { ASYNC_INFERENCE_FOLDERS, ASYNC_INFERENCE_PREFIX } from "./storage";

/** SageMaker's limit on endpoint names. */
const MAX_ENDPOINT_NAME_LENGTH = 63;

/** `<prefix>-<instance type without "ml.", dots as dashes>-<mode>`, e.g. `cellseg-g4dn-xlarge-realtime`. */
export function endpointNameFor(prefix: string, instanceType: string, mode: EndpointMode): string {
  const name = `${prefix}-${instanceType.replace(/^ml\./, "").replace(/\./g, "-")}-${mode}`;
  if (name !== name.toLowerCase()) throw new Error(`endpoint name must be lower-case: ${name}`);
  if (name.length > MAX_ENDPOINT_NAME_LENGTH)
    throw new Error(`endpoint name ${name} is longer than SageMaker's ${MAX_ENDPOINT_NAME_LENGTH} characters`);
  return name;
}

/** The endpoint's one production variant. */
export const VARIANT_NAME = "AllTraffic";

/** The namespace of the instances' CPU, GPU, memory and disk metrics. */
const INSTANCE_METRICS_NAMESPACE = "/aws/sagemaker/Endpoints";

/**
 * Loading the ensemble verifies every model file's sha256 and creates the CUDA sessions before `/ping`
 * answers; SageMaker's default of 60 s leaves no margin for that on a cold instance.
 */
const CONTAINER_STARTUP_TIMEOUT = Duration.minutes(10);

export interface ModelEndpointProps {
  /**
   * The endpoint's name is `<namePrefix>-<instance type>-<mode>`, lower-case so that it equals the name in
   * its ARN (SageMaker lower-cases ARNs). SageMaker cannot update an autoscaled variant's instance type
   * or add or remove asynchronous inference in place; a name that carries both makes CloudFormation
   * replace the endpoint when either changes: the new one is created before the old one is deleted.
   */
  readonly namePrefix: string;
  readonly mode: EndpointMode;
  readonly instanceType: string;
  /** Instances the endpoint starts with; an async endpoint needs at least one to be created. */
  readonly initialInstanceCount: number;
  /** async: requests SageMaker hands one instance at once. */
  readonly asyncMaxConcurrentInvocations: number;
  /** async: the bucket that holds requests and answers under `async/` (the output bucket). */
  readonly asyncBucket: IBucket;
  readonly logRetention: RetentionDays;
}

export class ModelEndpoint extends Construct {
  readonly endpointName: string;
  readonly endpointArn: string;
  readonly mode: EndpointMode;
  readonly image: DockerImageAsset;
  readonly executionRole: Role;
  /** Where SageMaker writes the container's logs. */
  readonly logGroup: LogGroup;
  readonly model: CfnModel;
  readonly endpointConfig: CfnEndpointConfig;
  readonly endpoint: CfnEndpoint;
  /** What a client of the endpoint reads (functions/pipeline/config.ts): which endpoint, and how to call it. */
  readonly clientEnvironment: Readonly<Record<string, string>>;
  private readonly asyncBucket: IBucket;

  constructor(scope: Construct, id: string, props: ModelEndpointProps) {
    super(scope, id);
    this.endpointName = endpointNameFor(props.namePrefix, props.instanceType, props.mode);
    this.mode = props.mode;
    this.asyncBucket = props.asyncBucket;
    this.endpointArn = Stack.of(this).formatArn({
      service: "sagemaker",
      resource: "endpoint",
      resourceName: this.endpointName,
    });

    this.image = modelImage(this, "Image");
    // Created here, with a retention, rather than by SageMaker on first use (kept forever).
    this.logGroup = new LogGroup(this, "Logs", {
      logGroupName: `/aws/sagemaker/Endpoints/${this.endpointName}`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.executionRole = this.createExecutionRole(props);
    this.model = new CfnModel(this, "Model", {
      executionRoleArn: this.executionRole.roleArn,
      // CUDA or nothing: a server that fell back to the CPU would pass /ping at GPU prices and CPU speed;
      // this way it fails the health check and the deployment says why.
      primaryContainer: { image: this.image.imageUri, environment: { CELLSEG_EXECUTION_PROVIDER: "cuda" } },
    });
    // CreateModel and the instances' image pull check the role's permissions: its policy must exist first.
    this.model.node.addDependency(this.executionRole);

    this.endpointConfig = new CfnEndpointConfig(this, "Config", {
      productionVariants: [
        {
          variantName: VARIANT_NAME,
          modelName: this.model.attrModelName,
          instanceType: props.instanceType,
          initialInstanceCount: props.initialInstanceCount,
          initialVariantWeight: 1,
          containerStartupHealthCheckTimeoutInSeconds: CONTAINER_STARTUP_TIMEOUT.toSeconds(),
          inferenceAmiVersion: GPU_RUNTIME.inferenceAmiVersion,
        },
      ],
      ...(props.mode === "async"
        ? {
            asyncInferenceConfig: {
              outputConfig: {
                s3OutputPath: this.asyncLocation("outputs"),
                s3FailurePath: this.asyncLocation("failures"),
              },
              clientConfig: { maxConcurrentInvocationsPerInstance: props.asyncMaxConcurrentInvocations },
            },
          }
        : {}),
    });
    this.endpoint = new CfnEndpoint(this, "Endpoint", {
      endpointName: this.endpointName,
      endpointConfigName: this.endpointConfig.attrEndpointConfigName,
      // A new configuration (a new image, say) keeps the instance count autoscaling has set.
      retainAllVariantProperties: true,
    });

    this.clientEnvironment = {
      ENDPOINT_NAME: this.endpointName,
      ENDPOINT_MODE: props.mode,
      ...(props.mode === "async"
        ? { ASYNC_BUCKET: props.asyncBucket.bucketName, ASYNC_PREFIX: ASYNC_INFERENCE_PREFIX }
        : {}),
    };
  }

  /**
   * Lets a client call the endpoint: InvokeEndpoint, or for an async endpoint InvokeEndpointAsync plus
   * writing requests and reading (and deleting) answers under `async/` of the async bucket.
   */
  grantInvoke(role: Role): void {
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [this.mode === "async" ? "sagemaker:InvokeEndpointAsync" : "sagemaker:InvokeEndpoint"],
        resources: [this.endpointArn],
      }),
    );
    if (this.mode === "realtime") return;
    grantObjects(role, this.asyncBucket, {
      actions: ["s3:PutObject", "s3:DeleteObject"],
      prefixes: [ASYNC_INFERENCE_PREFIX + ASYNC_INFERENCE_FOLDERS.requests],
      why:
        "Writes each tile's request for InvokeEndpointAsync under async/requests/<uuid>.json and deletes it " +
        "when answered; the keys are per request.",
    });
    grantObjects(role, this.asyncBucket, {
      actions: ["s3:GetObject", "s3:DeleteObject"],
      prefixes: [
        ASYNC_INFERENCE_PREFIX + ASYNC_INFERENCE_FOLDERS.outputs,
        ASYNC_INFERENCE_PREFIX + ASYNC_INFERENCE_FOLDERS.failures,
      ],
      why:
        "Polls for and takes the answer SageMaker writes per request under async/outputs/ or async/failures/; " +
        "the keys are per request.",
    });
    grantList(role, this.asyncBucket, [ASYNC_INFERENCE_PREFIX]);
  }

  /** A metric of the variant (Invocations, ModelLatency, Invocation5XXErrors, ...). */
  variantMetric(metricName: string, options: MetricOptions = {}): Metric {
    return new Metric({ namespace: "AWS/SageMaker", metricName, dimensionsMap: this.variantDimensions(), ...options });
  }

  /** A metric of the variant's instances (GPUUtilization, CPUUtilization, MemoryUtilization, ...). */
  instanceMetric(metricName: string, options: MetricOptions = {}): Metric {
    return new Metric({
      namespace: INSTANCE_METRICS_NAMESPACE,
      metricName,
      dimensionsMap: this.variantDimensions(),
      ...options,
    });
  }

  /**
   * A metric of the whole endpoint: the asynchronous inference queue's (ApproximateBacklogSize,
   * HasBacklogWithoutCapacity, ...).
   */
  endpointMetric(metricName: string, options: MetricOptions = {}): Metric {
    return new Metric({
      namespace: "AWS/SageMaker",
      metricName,
      dimensionsMap: { EndpointName: this.endpointName },
      ...options,
    });
  }

  private variantDimensions(): Record<string, string> {
    return { EndpointName: this.endpointName, VariantName: VARIANT_NAME };
  }

  private asyncLocation(folder: keyof typeof ASYNC_INFERENCE_FOLDERS): string {
    return `s3://${this.asyncBucket.bucketName}/${ASYNC_INFERENCE_PREFIX}${ASYNC_INFERENCE_FOLDERS[folder]}`;
  }

  /**
   * Pull the image, write the endpoint's logs and instance metrics, and in async mode read requests and write answers.
   */
  private createExecutionRole(props: ModelEndpointProps): Role {
    const role = new Role(this, "ExecutionRole", {
      assumedBy: new ServicePrincipal("sagemaker.amazonaws.com"),
      description: `SageMaker execution role of the ${this.endpointName} endpoint`,
    });
    this.image.repository.grantPull(role);

    this.logGroup.grant(
      role,
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["cloudwatch:PutMetricData"],
        resources: ["*"],
        conditions: { StringEquals: { "cloudwatch:namespace": INSTANCE_METRICS_NAMESPACE } },
      }),
    );
    acknowledge(
      role,
      WILDCARD_RESOURCE,
      `Two actions have no resource-level permissions and need Resource "*": ecr:GetAuthorizationToken (the ` +
        "ECR login before pulling the model image, whose pull actions are scoped to its repository) and " +
        `cloudwatch:PutMetricData, limited by condition to the ${INSTANCE_METRICS_NAMESPACE} namespace.`,
    );

    if (props.mode === "async") {
      grantObjects(role, props.asyncBucket, {
        actions: ["s3:GetObject"],
        prefixes: [ASYNC_INFERENCE_PREFIX + ASYNC_INFERENCE_FOLDERS.requests],
        why:
          "SageMaker reads each asynchronous request from the InputLocation the client wrote under " +
          "async/requests/; the keys are per request.",
      });
      grantObjects(role, props.asyncBucket, {
        actions: ["s3:PutObject"],
        prefixes: [
          ASYNC_INFERENCE_PREFIX + ASYNC_INFERENCE_FOLDERS.outputs,
          ASYNC_INFERENCE_PREFIX + ASYNC_INFERENCE_FOLDERS.failures,
        ],
        why:
          "SageMaker writes each asynchronous answer to S3OutputPath (async/outputs/) or S3FailurePath " +
          "(async/failures/) under a key it names per request.",
      });
    }
    return role;
  }
}
