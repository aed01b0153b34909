/**
 * The HTTPS API: an API Gateway REST API that proxies every request to the `api` function (a Hono app,
 * functions/api/handler.ts). Every method needs SigV4-signed requests (IAM authorization); images travel
 * as binary in both directions.
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import {
  AccessLogField,
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  LambdaRestApi,
  LogGroupLogDestination,
  MethodLoggingLevel,
  ResponseType,
} from "aws-cdk-lib/aws-apigateway";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import { LogGroup } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { BROWSER_REQUEST_HEADERS } from "../../core/schemas/api";
import { KEY_PREFIXES } from "../../core/schemas/object-keys";
import { grantList, grantObjects } from "../bucket-access";
import { acknowledge } from "../nag";
import { CellsegFunction, type FunctionSettings } from "./cellseg-function";
import type { ModelEndpoint } from "./model-endpoint";

export const API_SERVICE_NAME = "cellseg-api";

/** API Gateway gives up on a REST integration after 29 s; the function stops there too. */
export const API_FUNCTION_TIMEOUT = Duration.seconds(29);

export const API_STAGE_NAME = "prod";

/**
 * API Gateway's standard JSON access-log fields, and why a request failed where API Gateway or the Lambda
 * integration (not our function's answer) ended it: an authorization refusal, throttling, a timeout.
 */
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: AccessLogField.contextRequestId(),
    ip: AccessLogField.contextIdentitySourceIp(),
    user: AccessLogField.contextIdentityUser(),
    caller: AccessLogField.contextIdentityCaller(),
    requestTime: AccessLogField.contextRequestTime(),
    httpMethod: AccessLogField.contextHttpMethod(),
    resourcePath: AccessLogField.contextResourcePath(),
    status: AccessLogField.contextStatus(),
    protocol: AccessLogField.contextProtocol(),
    responseLength: AccessLogField.contextResponseLength(),
    errorMessage: AccessLogField.contextErrorMessage(),
    errorType: AccessLogField.contextErrorResponseType(),
    integrationStatus: AccessLogField.contextIntegrationStatus(),
    integrationError: AccessLogField.contextIntegrationErrorMessage(),
    integrationLatency: AccessLogField.contextIntegrationLatency(),
  }),
);

export interface ApiProps {
  /** The function's settings; its timeout is always {@link API_FUNCTION_TIMEOUT}. */
  readonly function: Omit<FunctionSettings, "timeout">;
  readonly inputBucket: IBucket;
  readonly outputBucket: IBucket;
  readonly endpoint: ModelEndpoint;
  /** Stage-wide throttling: steady requests per second and burst. */
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * Create API Gateway's account-wide CloudWatch Logs role (needed for access and execution logs). Turn it
   * off in an account where another stack already manages it.
   */
  readonly cloudWatchRole: boolean;
  /**
   * The web console's origin: browsers on its pages may call the API (CORS; API Gateway answers the
   * preflights, which carry no signature). @default - no browser clients
   */
  readonly browserOrigin?: string;
}

export class Api extends Construct {
  readonly handler: CellsegFunction;
  readonly restApi: LambdaRestApi;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    this.handler = new CellsegFunction(this, "Handler", {
      entry: "functions/api/handler.ts",
      description: "cellseg: the HTTPS API (jobs, upload links, results, synchronous segmentation of small images)",
      serviceName: API_SERVICE_NAME,
      // POST /v1/segment decodes and tiles the image with core/image, which uses sharp.
      nativeModules: ["sharp"],
      ...props.function,
      environment: {
        ...props.function.environment,
        ...(props.browserOrigin ? { CORS_ALLOW_ORIGINS: props.browserOrigin } : {}),
      },
      timeout: API_FUNCTION_TIMEOUT,
    });
    this.grantApiAccess(props);

    this.accessLogs = new LogGroup(this, "AccessLogs", {
      retention: props.function.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.restApi = new LambdaRestApi(this, "RestApi", {
      handler: this.handler.function,
      proxy: true,
      description: "cellseg HTTPS API (IAM-authorized)",
      endpointTypes: [EndpointType.REGIONAL],
      binaryMediaTypes: ["*/*"],
      defaultMethodOptions: { authorizationType: AuthorizationType.IAM },
      ...(props.browserOrigin
        ? {
            defaultCorsPreflightOptions: {
              allowOrigins: [props.browserOrigin],
              allowMethods: ["GET", "POST", "PUT", "OPTIONS"],
              allowHeaders: [...BROWSER_REQUEST_HEADERS],
              maxAge: Duration.hours(1),
            },
          }
        : {}),
      cloudWatchRole: props.cloudWatchRole,
      // The role is the account's, shared by every REST API in the region: deleting this stack must not
      // take logging away from the others.
      ...(props.cloudWatchRole ? { cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN } : {}),
      deployOptions: {
        stageName: API_STAGE_NAME,
        throttlingRateLimit: props.throttle.rateLimit,
        throttlingBurstLimit: props.throttle.burstLimit,
        accessLogDestination: new LogGroupLogDestination(this.accessLogs),
        accessLogFormat: ACCESS_LOG_FORMAT,
        loggingLevel: MethodLoggingLevel.ERROR,
        // Request and response bodies are images and results: never copy them into the logs.
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: props.function.tracing,
      },
    });

    if (props.browserOrigin) this.answerBrowsers(props.browserOrigin);

    acknowledge(
      this.restApi,
      "APIG2",
      "Every route is a Lambda proxy: the API function validates each request with its zod schemas and " +
        "answers 400 with a JSON error. API Gateway holds no models of these bodies (images, or JSON the " +
        "function defines), so a request validator would check nothing.",
    );
    acknowledge(
      this.restApi,
      "APIG3",
      "No WAF web ACL: every method requires SigV4-signed requests from IAM principals of the account (the " +
        "web console's users sign with temporary credentials of the account's identity pool), and the stage is " +
        "throttled; a web ACL would add a fixed monthly cost without a threat it addresses.",
    );
    acknowledge(
      this.restApi,
      "COG4",
      "Callers are IAM principals (scientists' roles, pipelines) that sign requests with SigV4: the methods " +
        "use AWS_IAM authorization, not a Cognito user pool.",
    );
    if (props.cloudWatchRole) {
      acknowledge(
        this.restApi,
        "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
        "API Gateway's account-level logging role uses the AWS-managed policy API Gateway documents for it. " +
          "That policy lets API Gateway create, describe, read and write every log group of the account " +
          "(Resource *), more than the access and execution logs need; only apigateway.amazonaws.com can " +
          "assume the role. Where an account needs it narrower, deploy with apiCloudWatchRole=false and manage " +
          "the role yourself.",
      );
    }
  }

  /**
   * API Gateway's own refusals (a bad signature, throttling, an error before the function) carry the CORS
   * header too, so that the console can read why; the function's answers carry it from the app.
   */
  private answerBrowsers(origin: string): void {
    for (const [id, type] of [
      ["Default4xx", ResponseType.DEFAULT_4XX],
      ["Default5xx", ResponseType.DEFAULT_5XX],
    ] as const) {
      this.restApi.addGatewayResponse(id, {
        type,
        responseHeaders: { "Access-Control-Allow-Origin": `'${origin}'`, Vary: "'Origin'" },
      });
    }
  }

  /** What the API does with the buckets: upload links, job records, status and results, and POST /v1/segment. */
  private grantApiAccess(props: ApiProps): void {
    const { role } = this.handler;
    grantObjects(role, props.inputBucket, {
      actions: ["s3:PutObject", "s3:GetObject"],
      prefixes: [KEY_PREFIXES.input],
      why:
        "Signs upload links with its own role (PutObject) and checks uploads (HEAD) under " +
        "input/<jobId>/<fileName>; the keys are per job and file.",
    });
    grantObjects(role, props.outputBucket, {
      actions: ["s3:GetObject", "s3:PutObject"],
      prefixes: [KEY_PREFIXES.output, KEY_PREFIXES.jobs],
      why:
        "Reads status documents and results under output/ (and signs their download links), and writes job " +
        "records and merged results under jobs/<jobId>/; the keys are per job.",
    });
    grantList(role, props.inputBucket, [KEY_PREFIXES.input]);
    grantList(role, props.outputBucket, [KEY_PREFIXES.output, KEY_PREFIXES.jobs]);
    props.endpoint.grantInvoke(role);
  }
}
