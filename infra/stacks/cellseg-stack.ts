/**
 * The whole service in one stack. The stack only wires the constructs together and sets the functions'
 * environment variables, the contract with functions/pipeline/config.ts and functions/api/config.ts.
 */
import { Aws, CfnOutput, Duration, Stack, type StackProps } from "aws-cdk-lib";
import type { RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import type { InfraConfig } from "../config";
import { lambdaUsdPerSecond, priceVariable } from "../pricing";
import { Api } from "../constructs/api";
import type { FunctionSettings } from "../constructs/cellseg-function";
import { EndpointAutoscaling } from "../constructs/endpoint-autoscaling";
import { ModelEndpoint } from "../constructs/model-endpoint";
import { Monitoring } from "../constructs/monitoring";
import { SegmentPipeline } from "../constructs/segment-pipeline";
import { Storage } from "../constructs/storage";
import { WebConsole } from "../constructs/web-console";

export interface CellsegStackProps extends StackProps {
  readonly config: InfraConfig;
}

export class CellsegStack extends Stack {
  readonly storage: Storage;
  readonly endpoint: ModelEndpoint;
  readonly autoscaling: EndpointAutoscaling;
  readonly pipeline: SegmentPipeline;
  readonly api: Api;
  readonly monitoring: Monitoring;
  /** Absent with `-c webConsole=false`. */
  readonly webConsole?: WebConsole;

  constructor(scope: Construct, id: string, props: CellsegStackProps) {
    super(scope, id, props);
    const { config } = props;
    // loadInfraConfig admits only the values CloudWatch Logs accepts, which are RetentionDays' values.
    const logRetention = config.logRetentionDays as RetentionDays;

    this.storage = new Storage(this, "Storage", {
      resultRetention: Duration.days(config.resultRetentionDays),
      ...(config.inputRetentionDays !== undefined ? { inputRetention: Duration.days(config.inputRetentionDays) } : {}),
    });
    const { inputBucket, outputBucket } = this.storage;

    this.endpoint = new ModelEndpoint(this, "Model", {
      namePrefix: this.stackName.toLowerCase(),
      mode: config.endpointMode,
      instanceType: config.instanceType,
      // An endpoint is created with at least one instance; an async one scales in to zero once idle.
      initialInstanceCount: Math.max(1, config.minInstances),
      asyncMaxConcurrentInvocations: config.asyncMaxConcurrentInvocations,
      asyncBucket: outputBucket,
      logRetention,
    });
    this.autoscaling = new EndpointAutoscaling(this, "ModelScaling", {
      endpoint: this.endpoint,
      minInstances: config.minInstances,
      maxInstances: config.maxInstances,
      targetInvocationsPerInstance: config.targetInvocationsPerInstance,
      targetBacklogPerInstance: config.targetBacklogPerInstance,
    });

    const shared: Omit<FunctionSettings, "memorySize" | "timeout" | "environment"> = {
      architecture: config.lambdaArchitecture,
      logLevel: config.logLevel,
      logRetention,
      tracing: config.tracing,
    };
    const pipelineEnvironment = {
      INPUT_BUCKET: inputBucket.bucketName,
      OUTPUT_BUCKET: outputBucket.bucketName,
      ...this.endpoint.clientEnvironment,
      ...(config.modelProfile ? { MODEL_PROFILE: config.modelProfile } : {}),
    };

    const segmentTimeout = Duration.seconds(config.segmentTimeoutSeconds);
    this.pipeline = new SegmentPipeline(this, "Pipeline", {
      inputBucket,
      outputBucket,
      endpoint: this.endpoint,
      maxConcurrency: config.segmentMaxConcurrency,
      maxReceiveCount: config.maxReceiveCount,
      function: {
        ...shared,
        memorySize: config.segmentMemoryMb,
        timeout: segmentTimeout,
        environment: {
          ...pipelineEnvironment,
          MAX_CONCURRENT_TILES: String(config.maxConcurrentTiles),
          ENDPOINT_TIMEOUT_MS: String(config.endpointTimeoutMs),
          ...(config.endpointMode === "async" ? { ASYNC_TIMEOUT_MS: String(config.asyncTimeoutMs) } : {}),
          // A run's claim outlives any invocation that could still be working on it.
          CLAIM_TTL_SECONDS: String(segmentTimeout.toSeconds()),
        },
      },
    });

    if (config.webConsole) {
      this.webConsole = new WebConsole(this, "Console", {
        inputBucket,
        outputBucket,
        accessLogBucket: this.storage.accessLogBucket,
        signInDomainPrefix: config.signInDomainPrefix ?? `${this.stackName.toLowerCase()}-${Aws.ACCOUNT_ID}`,
      });
    }

    this.api = new Api(this, "Api", {
      inputBucket,
      outputBucket,
      endpoint: this.endpoint,
      throttle: { rateLimit: config.apiThrottleRateLimit, burstLimit: config.apiThrottleBurstLimit },
      cloudWatchRole: config.apiCloudWatchRole,
      ...(this.webConsole ? { browserOrigin: this.webConsole.origin } : {}),
      function: {
        ...shared,
        memorySize: config.apiMemoryMb,
        environment: {
          ...pipelineEnvironment,
          UPLOAD_URL_TTL_SECONDS: String(config.uploadUrlTtlSeconds),
          RESULT_URL_TTL_SECONDS: String(config.resultUrlTtlSeconds),
          MAX_FILES_PER_JOB: String(config.maxFilesPerJob),
          // What a job's compute costs, as the API reports it: the endpoint's instance-hour and the
          // segment function's second.
          COST_ENDPOINT_USD_PER_HOUR: priceVariable(config.endpointUsdPerHour),
          COST_FUNCTION_USD_PER_SECOND: priceVariable(
            lambdaUsdPerSecond(config.segmentMemoryMb, config.lambdaArchitecture),
          ),
        },
      },
    });

    this.webConsole?.serve(this.api);

    this.monitoring = new Monitoring(this, "Monitoring", {
      pipeline: this.pipeline,
      api: this.api,
      endpoint: this.endpoint,
      queueAgeLimit: Duration.minutes(config.queueAgeAlarmMinutes),
      ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
    });

    new CfnOutput(this, "InputBucketName", {
      value: inputBucket.bucketName,
      description: "Upload images here, as input/<jobId>/<fileName>",
    });
    new CfnOutput(this, "OutputBucketName", {
      value: outputBucket.bucketName,
      description: "Results and status documents, under output/<jobId>/<fileName>/",
    });
    new CfnOutput(this, "ApiUrl", {
      value: this.api.restApi.url,
      description: "The HTTPS API (SigV4-signed requests, service execute-api)",
    });
    new CfnOutput(this, "EndpointName", {
      value: this.endpoint.endpointName,
      description: `The SageMaker ${config.endpointMode} endpoint`,
    });
    new CfnOutput(this, "DeadLetterQueueUrl", {
      value: this.pipeline.deadLetterQueue.queueUrl,
      description: "Images that failed every delivery",
    });
    new CfnOutput(this, "DashboardName", { value: this.monitoring.dashboard.dashboardName });
    if (this.webConsole) {
      new CfnOutput(this, "ConsoleUrl", {
        value: this.webConsole.url,
        description: "The web console (sign in with a user of ConsoleUserPoolId)",
      });
      new CfnOutput(this, "ConsoleUserPoolId", {
        value: this.webConsole.userPool.userPoolId,
        description: "Create the console's users here (README: Web console)",
      });
    }
  }
}
