/**
 * A Lambda function of this repository: a TypeScript handler bundled by esbuild on the machine that runs
 * `cdk synth` (no Docker), its own log group and its own role, which starts with nothing but writing to
 * that log group; whoever wires the function grants the rest.
 */
import { type Duration, RemovalPolicy } from "aws-cdk-lib";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Architecture, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { WILDCARD_RESOURCE, acknowledge } from "../nag";
import type { LambdaArchitecture } from "../pricing";
import { repositoryPath } from "../repository";

/** The metrics namespace of every function (Powertools' POWERTOOLS_METRICS_NAMESPACE). */
export const METRICS_NAMESPACE = "cellseg";

const RUNTIME = Runtime.NODEJS_22_X;

export interface CellsegFunctionProps {
  /** The handler module, relative to the repository root; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  /** Powertools' service name: the `service` dimension of the function's metrics and logs. */
  readonly serviceName: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly architecture: LambdaArchitecture;
  /** Powertools' log level. */
  readonly logLevel: string;
  readonly logRetention: RetentionDays;
  /** X-Ray active tracing, and Powertools' Tracer on (functions/tracing.ts). */
  readonly tracing: boolean;
  /**
   * Native packages the function imports: installed for the function's platform next to the bundle instead
   * of being bundled (esbuild cannot bundle a `.node` binary).
   * @default - none
   */
  readonly nativeModules?: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
}

/** What the stack decides for a function (sizing, logging, environment); its module decides the rest. */
export type FunctionSettings = Omit<CellsegFunctionProps, "entry" | "description" | "serviceName" | "nativeModules">;

export class CellsegFunction extends Construct {
  readonly serviceName: string;
  readonly function: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: CellsegFunctionProps) {
    super(scope, id);
    this.serviceName = props.serviceName;
    this.logGroup = new LogGroup(this, "Logs", { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    // Our own role instead of CDK's default, which carries the AWS-managed AWSLambdaBasicExecutionRole (log writes to
    // any log group).
    this.role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `${props.description}: execution role`,
    });
    this.logGroup.grantWrite(this.role);

    const architecture = props.architecture === "arm64" ? Architecture.ARM_64 : Architecture.X86_64;
    this.function = new NodejsFunction(this, "Function", {
      entry: repositoryPath(props.entry),
      handler: "handler",
      description: props.description,
      runtime: RUNTIME,
      architecture,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      tracing: props.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
      projectRoot: repositoryPath("."),
      depsLockFilePath: repositoryPath("package-lock.json"),
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: props.logLevel,
        POWERTOOLS_TRACE_ENABLED: String(props.tracing),
        // Stack traces in the minified bundle's logs, mapped back to the TypeScript sources.
        NODE_OPTIONS: "--enable-source-maps",
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        // The repository is ESM; its CommonJS dependencies (the AWS SDK's among them) need `require` in an ES module.
        banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        mainFields: ["module", "main"],
        minify: true,
        sourceMap: true,
        // Bundle the AWS SDK too: the versions package-lock.json pins (S3 conditional writes among what the
        // pipeline relies on), not whichever the runtime ships.
        externalModules: [],
        nodeModules: [...(props.nativeModules ?? [])],
        // `npm ci` of the native modules picks the binaries of the Lambda platform (Amazon Linux, glibc),
        // whatever machine synthesizes: sharp publishes prebuilt binaries per os, cpu and libc. The lock file
        // pins every version, so npm's cache serves them when it has them.
        environment: {
          npm_config_os: "linux",
          npm_config_cpu: props.architecture === "arm64" ? "arm64" : "x64",
          npm_config_libc: "glibc",
          npm_config_prefer_offline: "true",
        },
      },
    });
    if (props.tracing) {
      acknowledge(
        this.role,
        WILDCARD_RESOURCE,
        "Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which have no " +
          'resource-level permissions and need Resource "*"; they only send this function\'s traces.',
      );
    }
    acknowledge(
      this.function,
      "L1",
      `Pinned to ${RUNTIME.name}, the Node.js major of the model container (model-container/Dockerfile), so ` +
        "the shared core/ code runs on one Node.js version in AWS; moving both to a newer major is a " +
        "deliberate upgrade, not a side effect of a CDK update.",
    );
  }
}
