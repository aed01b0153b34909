/**
 * The CDK app's configuration: CDK context values (`cdk.json`'s `context`, or `-c key=value` on the command
 * line), validated once with zod and passed to the stack as a typed object. Values from the command line are
 * text, so numbers and flags are coerced. A bad value stops synthesis with a {@link ConfigError} that
 * names the key, the value and what is allowed.
 *
 * | key | default | meaning |
 * |---|---|---|
 * | `stackName` | `Cellseg` | CloudFormation stack name; the endpoint is named `<stackname>-<instance type>-<mode>` |
 * | `endpointMode` | `realtime` | `realtime` (always-on instances) or `async` (asynchronous, scales to zero) |
 * | `instanceType` | `ml.g4dn.xlarge` | the endpoint's GPU instance type (of a family gpu-runtime.ts lists) |
 * | `endpointUsdPerHour` | price table | the instance's price (API cost report); required if not in `pricing.ts` |
 * | `minInstances` | 1 (realtime), 0 (async) | autoscaling floor; only `async` may scale to zero |
 * | `maxInstances` | 2 | autoscaling ceiling |
 * | `targetInvocationsPerInstance` | 120 | realtime: target tracking on invocations per instance per minute |
 * | `targetBacklogPerInstance` | 5 | async: target tracking on queued requests per instance |
 * | `asyncMaxConcurrentInvocations` | 2 | async: requests SageMaker hands each instance at once |
 * | `lambdaArchitecture` | `arm64` | `arm64` or `x86_64`, for both functions |
 * | `segmentMemoryMb`, `segmentTimeoutSeconds` | 3008, 900 | the segment function's size and time limit |
 * | `segmentMaxConcurrency` | 5 | segment invocations the queue runs at once (2 is SQS's minimum) |
 * | `maxReceiveCount` | 5 | deliveries of a message before it goes to the dead-letter queue |
 * | `maxConcurrentTiles` | realtime: 3¹; async: 4 | endpoint calls in flight per segment invocation |
 * | `endpointTimeoutMs` | 60000 | one real-time call's deadline (SageMaker's own limit is 60 s) |
 * | `asyncTimeoutMs` | 600000 | one asynchronous call's deadline, an instance start from zero included |
 * | `modelProfile` | the endpoint's | `fast` or `accurate` |
 * | `apiMemoryMb` | 1536 | the API function's memory |
 * | `apiThrottleRateLimit`, `apiThrottleBurstLimit` | 10, 20 | API stage throttling (requests per second, burst) |
 * | `apiCloudWatchRole` | true | create API Gateway's account-wide logging role; `false` where the account has one |
 * | `tracing` | false | X-Ray: active tracing of both functions (their S3, SageMaker and SQS calls) and the API stage |
 * | `uploadUrlTtlSeconds`, `resultUrlTtlSeconds` | 3600, 900 | lifetime of presigned upload and download links |
 * | `maxFilesPerJob` | 1536 | images per API job |
 * | `resultRetentionDays` | 30 | days results and job records stay in the output bucket |
 * | `inputRetentionDays` | none (kept) | days uploads stay in the input bucket |
 * | `logRetentionDays` | 30 | CloudWatch Logs retention (one of CloudWatch's allowed values) |
 * | `logLevel` | `INFO` | the functions' log level |
 * | `alarmEmail` | none | when set, alarms notify this address through an SNS topic |
 * | `queueAgeAlarmMinutes` | 60 | alarm when the oldest queued image waited longer |
 * | `webConsole` | true | deploy the web console (CloudFront, Cognito); `false`: the API serves IAM principals alone |
 * | `signInDomainPrefix` | `<stackname>-<account id>` | the hosted sign-in page's domain prefix (unique per region) |
 *
 * ¹ Realtime: what `minInstances` admit, shared by `segmentMaxConcurrency`.
 */
import { z } from "zod";
import { PROFILES } from "../core/schemas/manifest";
import { ConfigError } from "../plumbing/errors";
import { DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_QUEUE } from "../model-container/src/server/config";
import { GPU_RUNTIME, instanceFamily } from "./gpu-runtime";
import { LAMBDA_ARCHITECTURES, SAGEMAKER_INSTANCE_USD_PER_HOUR } from "./pricing";

export const ENDPOINT_MODES = ["realtime", "async"] as const;
export type EndpointMode = (typeof ENDPOINT_MODES)[number];

export const LOG_LEVELS = ["DEBUG", "INFO", "WARN", "ERROR"] as const;

/** The retention periods CloudWatch Logs accepts, in days. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Real-time calls: SageMaker answers within 60 s or not at all. */
const REALTIME_CALL_LIMIT_MS = 60_000;
/** What the segment function keeps for itself after an async call's deadline: stitching and writing the results. */
const RESULT_WRITING_MARGIN_MS = 60_000;

const fromText = (value: unknown) =>
  typeof value === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;

const wholeNumber = (min: number, max: number) =>
  z.preprocess(
    fromText,
    z
      .number({ error: "must be a whole number" })
      .int("must be a whole number")
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`),
  );

const positiveDecimal = z.preprocess(fromText, z.number({ error: "must be a number" }).positive("must be positive"));

const flag = z.preprocess(
  (value) => (value === "true" ? true : value === "false" ? false : value),
  z.boolean({ error: "must be true or false" }),
);

/** One schema per context key, so that an error can name the key. */
const contextKeys = {
  stackName: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,39}$/, "must be 1-40 letters, digits or '-', starting with a letter")
    .default("Cellseg"),
  endpointMode: z.enum(ENDPOINT_MODES).default("realtime"),
  instanceType: z
    .string()
    .regex(/^ml\.[a-z0-9-]+\.[a-z0-9]+$/, "must be a SageMaker instance type such as ml.g4dn.xlarge")
    .default("ml.g4dn.xlarge"),
  endpointUsdPerHour: positiveDecimal.optional(),
  minInstances: wholeNumber(0, 100).optional(),
  maxInstances: wholeNumber(1, 100).default(2),
  // Half of the ~200 tiles a minute an instance would serve at the assumed (not measured) 0.3 s per tile.
  targetInvocationsPerInstance: wholeNumber(1, 100_000).default(120),
  // AWS's example value for ApproximateBacklogSizePerInstance.
  targetBacklogPerInstance: wholeNumber(1, 10_000).default(5),
  // The model server runs one inference at a time; a second request waits ready in its queue.
  asyncMaxConcurrentInvocations: wholeNumber(1, 1_000).default(2),
  lambdaArchitecture: z.enum(LAMBDA_ARCHITECTURES).default("arm64"),
  // A 50-megapixel image decodes to 100 MB at 16 bits; its float tiles, masks and label image several
  // times that. Lambda's CPU share grows with memory (1 vCPU at 1769 MB), which decoding and encoding use.
  segmentMemoryMb: wholeNumber(1_024, 10_240).default(3_008),
  // Lambda's maximum: a large image is hundreds of tiles, and an async endpoint may first start an instance.
  segmentTimeoutSeconds: wholeNumber(60, 900).default(900),
  // 5 invocations x 4 tiles = 20 calls in flight, what two instances of the model server admit (1
  // running + 16 queued each).
  segmentMaxConcurrency: wholeNumber(2, 1_000).default(5),
  maxReceiveCount: wholeNumber(1, 100).default(5),
  maxConcurrentTiles: wholeNumber(1, 256).optional(),
  endpointTimeoutMs: wholeNumber(1_000, REALTIME_CALL_LIMIT_MS).default(REALTIME_CALL_LIMIT_MS),
  asyncTimeoutMs: wholeNumber(1_000, 840_000).default(600_000),
  modelProfile: z.enum(PROFILES).optional(),
  apiMemoryMb: wholeNumber(512, 10_240).default(1_536),
  apiThrottleRateLimit: wholeNumber(1, 10_000).default(10),
  apiThrottleBurstLimit: wholeNumber(1, 5_000).default(20),
  apiCloudWatchRole: flag.default(true),
  tracing: flag.default(false),
  uploadUrlTtlSeconds: wholeNumber(60, 7 * 24 * 3_600).default(3_600),
  resultUrlTtlSeconds: wholeNumber(60, 7 * 24 * 3_600).default(900),
  maxFilesPerJob: wholeNumber(1, 10_000).default(1_536),
  resultRetentionDays: wholeNumber(1, 3_650).default(30),
  inputRetentionDays: wholeNumber(1, 3_650).optional(),
  logRetentionDays: z
    .preprocess(fromText, z.number())
    .refine(
      (days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days),
      `must be one of ${LOG_RETENTION_DAYS.join(", ")}`,
    )
    .default(30),
  logLevel: z.enum(LOG_LEVELS).default("INFO"),
  alarmEmail: z.email("must be an email address").optional(),
  queueAgeAlarmMinutes: wholeNumber(1, 20_160).default(60),
  webConsole: flag.default(true),
  // Cognito's rules for a domain prefix: lower case letters, digits and hyphens, and never
  // "aws", "amazon" or "cognito".
  signInDomainPrefix: z
    .string()
    .regex(
      /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
      "must be 1-63 lower-case letters, digits or '-', not starting or ending with '-'",
    )
    .refine((prefix) => !/aws|amazon|cognito/.test(prefix), "must not contain aws, amazon or cognito")
    .optional(),
} as const;

const contextSchema = z
  .object(contextKeys)
  .transform((values) => ({
    ...values,
    minInstances: values.minInstances ?? (values.endpointMode === "async" ? 0 : 1),
    endpointUsdPerHour: values.endpointUsdPerHour ?? SAGEMAKER_INSTANCE_USD_PER_HOUR[values.instanceType],
    maxConcurrentTiles: values.maxConcurrentTiles ?? defaultConcurrentTiles(values),
  }))
  .superRefine((config, ctx) => {
    const problem = (key: keyof typeof contextKeys, message: string) =>
      ctx.addIssue({ code: "custom", path: [key], message });
    if (config.endpointMode === "realtime" && config.minInstances === 0) {
      problem("minInstances", "must be at least 1 with endpointMode=realtime: only an async endpoint scales to zero");
    }
    if (!(GPU_RUNTIME.instanceFamilies as readonly string[]).includes(instanceFamily(config.instanceType))) {
      problem(
        "instanceType",
        "must be a GPU instance of a family the endpoint's inference AMI " +
          `(${GPU_RUNTIME.inferenceAmiVersion}, NVIDIA driver ${GPU_RUNTIME.nvidiaDriver}) supports: ` +
          `${GPU_RUNTIME.instanceFamilies.join(", ")}`,
      );
    }
    if (config.minInstances > config.maxInstances)
      problem("minInstances", `must not exceed maxInstances (${config.maxInstances})`);
    if (config.endpointUsdPerHour === undefined) {
      problem(
        "endpointUsdPerHour",
        `must be set for ${config.instanceType}, which has no price in infra/pricing.ts (known: ` +
          `${Object.keys(SAGEMAKER_INSTANCE_USD_PER_HOUR).join(", ")})`,
      );
    }
    if (
      config.endpointMode === "async" &&
      config.asyncTimeoutMs + RESULT_WRITING_MARGIN_MS > config.segmentTimeoutSeconds * 1_000
    ) {
      problem(
        "asyncTimeoutMs",
        `must leave the segment function ${RESULT_WRITING_MARGIN_MS / 1_000} s of its ` +
          `${config.segmentTimeoutSeconds} s timeout`,
      );
    }
    if (config.apiThrottleBurstLimit < config.apiThrottleRateLimit)
      problem("apiThrottleBurstLimit", `must be at least apiThrottleRateLimit (${config.apiThrottleRateLimit})`);
  });

/** Requests one model server admits at once (running + queued); more are refused with 503. */
export const ENDPOINT_ADMITTED_PER_INSTANCE = DEFAULT_MAX_CONCURRENCY + DEFAULT_MAX_QUEUE;
/** Async: SageMaker queues requests itself and hands each instance `asyncMaxConcurrentInvocations`. */
const ASYNC_CONCURRENT_TILES = 4;

/**
 * Real-time: as many endpoint calls in flight per image as the always-on instances admit when every segment
 * invocation runs at once, so that a burst of images meets no 503 before autoscaling adds instances.
 */
function defaultConcurrentTiles(values: {
  endpointMode: EndpointMode;
  minInstances?: number;
  segmentMaxConcurrency: number;
}): number {
  if (values.endpointMode === "async") return ASYNC_CONCURRENT_TILES;
  const instances = Math.max(1, values.minInstances ?? 1);
  return Math.max(1, Math.floor((ENDPOINT_ADMITTED_PER_INSTANCE * instances) / values.segmentMaxConcurrency));
}

/** The validated configuration, every default filled in. */
export type InfraConfig = z.output<typeof contextSchema> & { readonly endpointUsdPerHour: number };

/**
 * Context keys are ours when they are plain camelCase names; CDK's own carry `:` or `@` (`aws:cdk:...`,
 * `@aws-cdk/...`).
 */
const isPlainKey = (key: string) => /^[a-z][A-Za-z0-9]*$/.test(key);

/**
 * Validates the app's context.
 *
 * @throws ConfigError naming every bad or unknown key, its value and what is allowed.
 * @example
 * ```ts
 * const config = loadInfraConfig(app.node.getAllContext()); // e.g. after `cdk synth -c endpointMode=async`
 * config.minInstances; // 0
 * ```
 */
export function loadInfraConfig(context: Readonly<Record<string, unknown>>): InfraConfig {
  const known = Object.keys(contextKeys);
  const unknown = Object.keys(context).filter((key) => isPlainKey(key) && !known.includes(key));
  const values = Object.fromEntries(known.map((key) => [key, context[key]]));
  const parsed = contextSchema.safeParse(values);
  const problems = [
    ...unknown.map((key) => `${key}: unknown context key (known: ${known.join(", ")})`),
    ...(parsed.success ? [] : parsed.error.issues.map((issue) => describeIssue(issue, values))),
  ];
  if (problems.length > 0 || !parsed.success) {
    throw new ConfigError(
      `invalid CDK context (cdk.json "context" or -c key=value):\n  ${problems.join("\n  ")}`,
      problems,
    );
  }
  return parsed.data as InfraConfig;
}

function describeIssue(issue: z.core.$ZodIssue, values: Readonly<Record<string, unknown>>): string {
  const key = String(issue.path[0] ?? "");
  const value = values[key];
  return `${key}=${value === undefined ? "(default)" : JSON.stringify(value)}: ${issue.message}`;
}
