import type { IConstruct } from "constructs";
import { describe, expect, it } from "vitest";
import { getAtt, logicalId, ref, synthesize, type Synthesized } from "./synth";

const propertiesOf = ({ template }: Synthesized, resource: IConstruct) =>
  template.toJSON().Resources[logicalId(resource)].Properties;

describe("functions", () => {
  const realtime = synthesize();
  const async = synthesize({ endpointMode: "async" });
  const segmentOf = (s: Synthesized) => propertiesOf(s, s.stack.pipeline.segment.function);
  const apiOf = (s: Synthesized) => propertiesOf(s, s.stack.api.handler.function);

  it.each([
    ["segment", segmentOf],
    ["api", apiOf],
  ])("runs the %s function on nodejs22.x and arm64, from the bundle's `handler` export", (_, functionOf) => {
    expect(functionOf(realtime)).toMatchObject({
      Runtime: "nodejs22.x",
      Architectures: ["arm64"],
      Handler: "index.handler",
    });
  });

  it("gives each function its own log group with the configured retention", () => {
    expect(segmentOf(realtime).LoggingConfig).toEqual({ LogGroup: ref(realtime.stack.pipeline.segment.logGroup) });
    expect(apiOf(realtime).LoggingConfig).toEqual({ LogGroup: ref(realtime.stack.api.handler.logGroup) });
    realtime.template.hasResourceProperties("AWS::Logs::LogGroup", { RetentionInDays: 30 });
  });

  it("sizes the segment function at 3008 MB and 15 minutes, the API function at 1536 MB and API Gateway's 29 s", () => {
    expect(segmentOf(realtime)).toMatchObject({ MemorySize: 3008, Timeout: 900 });
    expect(apiOf(realtime)).toMatchObject({ MemorySize: 1536, Timeout: 29 });
  });

  it("takes sizes and the architecture from the context", () => {
    const custom = synthesize({
      segmentMemoryMb: "4096",
      segmentTimeoutSeconds: "600",
      apiMemoryMb: "1024",
      lambdaArchitecture: "x86_64",
    });
    expect(segmentOf(custom)).toMatchObject({ MemorySize: 4096, Timeout: 600, Architectures: ["x86_64"] });
    expect(segmentOf(custom).Environment.Variables.CLAIM_TTL_SECONDS).toBe("600");
    expect(apiOf(custom)).toMatchObject({ MemorySize: 1024, Architectures: ["x86_64"] });
    // 4 GB x86 seconds.
    expect(apiOf(custom).Environment.Variables.COST_FUNCTION_USD_PER_SECOND).toBe("0.0000666668");
  });

  it("traces both functions and the API stage with X-Ray only when tracing is on", () => {
    const traced = synthesize({ tracing: "true" });
    for (const fn of [segmentOf(traced), apiOf(traced)]) {
      expect(fn.TracingConfig).toEqual({ Mode: "Active" });
      expect(fn.Environment.Variables.POWERTOOLS_TRACE_ENABLED).toBe("true");
    }
    const stages = (synthesized: typeof traced) =>
      Object.values(synthesized.template.findResources("AWS::ApiGateway::Stage")) as {
        Properties: { TracingEnabled?: boolean };
      }[];
    expect(stages(traced).map((stage) => stage.Properties.TracingEnabled)).toEqual([true]);
    for (const fn of [segmentOf(realtime), apiOf(realtime)]) {
      expect(fn.TracingConfig).toBeUndefined();
      expect(fn.Environment.Variables.POWERTOOLS_TRACE_ENABLED).toBe("false");
    }
    expect(stages(realtime).map((stage) => stage.Properties.TracingEnabled)).toEqual([false]);
  });

  it("sets the segment function's variables for a realtime endpoint", () => {
    const { stack } = realtime;
    expect(segmentOf(realtime).Environment.Variables).toEqual({
      INPUT_BUCKET: ref(stack.storage.inputBucket),
      OUTPUT_BUCKET: ref(stack.storage.outputBucket),
      ENDPOINT_NAME: "cellseg-g4dn-xlarge-realtime",
      ENDPOINT_MODE: "realtime",
      MAX_CONCURRENT_TILES: "3", // 17 admitted by the one always-on instance, over 5 segment invocations,
      ENDPOINT_TIMEOUT_MS: "60000",
      CLAIM_TTL_SECONDS: "900",
      POWERTOOLS_SERVICE_NAME: "cellseg-segment",
      POWERTOOLS_TRACE_ENABLED: "false",
      POWERTOOLS_METRICS_NAMESPACE: "cellseg",
      POWERTOOLS_LOG_LEVEL: "INFO",
      NODE_OPTIONS: "--enable-source-maps",
    });
  });

  it("sets the API function's variables, its prices included", () => {
    const { stack } = realtime;
    expect(apiOf(realtime).Environment.Variables).toEqual({
      INPUT_BUCKET: ref(stack.storage.inputBucket),
      OUTPUT_BUCKET: ref(stack.storage.outputBucket),
      ENDPOINT_NAME: "cellseg-g4dn-xlarge-realtime",
      ENDPOINT_MODE: "realtime",
      UPLOAD_URL_TTL_SECONDS: "3600",
      RESULT_URL_TTL_SECONDS: "900",
      MAX_FILES_PER_JOB: "1536",
      // ml.g4dn.xlarge; 3008 MB of arm64 seconds (the segment function's).
      COST_ENDPOINT_USD_PER_HOUR: "0.7364",
      COST_FUNCTION_USD_PER_SECOND: "0.0000391669",
      // The web console's pages may call it.
      CORS_ALLOW_ORIGINS: stack.resolve(stack.webConsole!.origin),
      POWERTOOLS_SERVICE_NAME: "cellseg-api",
      POWERTOOLS_TRACE_ENABLED: "false",
      POWERTOOLS_METRICS_NAMESPACE: "cellseg",
      POWERTOOLS_LOG_LEVEL: "INFO",
      NODE_OPTIONS: "--enable-source-maps",
    });
  });

  it.each([
    ["segment", segmentOf],
    ["api", apiOf],
  ])("tells the %s function where async requests go when the endpoint is async", (_, functionOf) => {
    expect(functionOf(async).Environment.Variables).toMatchObject({
      ENDPOINT_NAME: "cellseg-g4dn-xlarge-async",
      ENDPOINT_MODE: "async",
      ASYNC_BUCKET: ref(async.stack.storage.outputBucket),
      ASYNC_PREFIX: "async/",
    });
    expect(functionOf(realtime).Environment.Variables).not.toHaveProperty("ASYNC_BUCKET");
  });

  it("gives the segment function the async call's deadline in async mode only", () => {
    expect(segmentOf(async).Environment.Variables.ASYNC_TIMEOUT_MS).toBe("600000");
    expect(segmentOf(realtime).Environment.Variables).not.toHaveProperty("ASYNC_TIMEOUT_MS");
  });

  it("passes the model profile, log level and a price override through", () => {
    const custom = synthesize({ modelProfile: "accurate", logLevel: "DEBUG", endpointUsdPerHour: "1.25" });
    expect(segmentOf(custom).Environment.Variables).toMatchObject({
      MODEL_PROFILE: "accurate",
      POWERTOOLS_LOG_LEVEL: "DEBUG",
    });
    expect(apiOf(custom).Environment.Variables).toMatchObject({
      MODEL_PROFILE: "accurate",
      COST_ENDPOINT_USD_PER_HOUR: "1.25",
    });
  });

  it("runs each function with its own role", () => {
    expect(segmentOf(realtime).Role).toEqual(getAtt(realtime.stack.pipeline.segment.role, "Arn"));
    expect(apiOf(realtime).Role).toEqual(getAtt(realtime.stack.api.handler.role, "Arn"));
  });
});
