import { describe, expect, it } from "vitest";
import { ENDPOINT_ADMITTED_PER_INSTANCE, loadInfraConfig } from "../../infra/config";
import { ConfigError } from "../../plumbing/errors";
import { lambdaUsdPerSecond, priceVariable } from "../../infra/pricing";
import { createApp } from "./synth";

/** The message of the error loadInfraConfig throws for a context. */
function problemsWith(context: Record<string, unknown>): string {
  try {
    loadInfraConfig(context);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(context)} to be refused`);
}

describe("loadInfraConfig", () => {
  it("fills in the defaults: a realtime ml.g4dn.xlarge endpoint with 1 to 2 instances", () => {
    // Act
    const config = loadInfraConfig({});

    // Assess
    expect(config).toMatchObject({
      stackName: "Cellseg",
      endpointMode: "realtime",
      instanceType: "ml.g4dn.xlarge",
      endpointUsdPerHour: 0.7364,
      minInstances: 1,
      maxInstances: 2,
      lambdaArchitecture: "arm64",
      segmentMemoryMb: 3008,
      segmentTimeoutSeconds: 900,
      segmentMaxConcurrency: 5,
      maxReceiveCount: 5,
      endpointTimeoutMs: 60_000,
      asyncTimeoutMs: 600_000,
      resultRetentionDays: 30,
      logRetentionDays: 30,
      apiCloudWatchRole: true,
    });
    expect(config.alarmEmail).toBeUndefined();
    expect(config.modelProfile).toBeUndefined();
  });

  it("lets an async endpoint scale to zero by default", () => {
    expect(loadInfraConfig({ endpointMode: "async" }).minInstances).toBe(0);
  });

  it("coerces the text the command line gives (-c key=value) to numbers and flags", () => {
    // Act
    const config = loadInfraConfig({
      minInstances: "2",
      maxInstances: "4",
      endpointUsdPerHour: "1.5",
      apiCloudWatchRole: "false",
      logRetentionDays: "90",
    });

    // Assess
    expect(config).toMatchObject({
      minInstances: 2,
      maxInstances: 4,
      endpointUsdPerHour: 1.5,
      apiCloudWatchRole: false,
      logRetentionDays: 90,
    });
  });

  it("takes an instance type's price from the table, or the override", () => {
    expect(loadInfraConfig({ instanceType: "ml.g5.xlarge" }).endpointUsdPerHour).toBe(1.408);
    expect(loadInfraConfig({ instanceType: "ml.g5.xlarge", endpointUsdPerHour: 2 }).endpointUsdPerHour).toBe(2);
  });

  it("ignores CDK's own context keys (feature flags, aws:cdk:*)", () => {
    expect(() =>
      loadInfraConfig({ "@aws-cdk/core:checkSecretUsage": true, "aws:cdk:bundling-stacks": [] }),
    ).not.toThrow();
  });

  it("names the key, the value and the allowed values of a bad endpoint mode", () => {
    const message = problemsWith({ endpointMode: "sync" });
    expect(message).toContain('endpointMode="sync"');
    expect(message).toContain('"realtime"|"async"');
  });

  it("refuses text where a number belongs", () => {
    expect(problemsWith({ minInstances: "abc" })).toContain('minInstances="abc": must be a whole number');
  });

  it("refuses a realtime endpoint with no instance: only async scales to zero", () => {
    expect(problemsWith({ minInstances: 0 })).toMatch(/minInstances=0: .*only an async endpoint scales to zero/);
  });

  it("refuses more minimum than maximum instances", () => {
    expect(problemsWith({ minInstances: 3, maxInstances: 2 })).toContain(
      "minInstances=3: must not exceed maxInstances (2)",
    );
  });

  it("asks for a price for an instance type the price table does not know", () => {
    expect(problemsWith({ instanceType: "ml.p4d.24xlarge" })).toMatch(
      /endpointUsdPerHour=\(default\): must be set for ml\.p4d\.24xlarge/,
    );
    expect(loadInfraConfig({ instanceType: "ml.p4d.24xlarge", endpointUsdPerHour: "37.69" }).endpointUsdPerHour).toBe(
      37.69,
    );
  });

  it("derives the endpoint calls per image from what the always-on instances admit, so a burst meets no 503", () => {
    expect(ENDPOINT_ADMITTED_PER_INSTANCE).toBe(17); // the model server's defaults: 1 running, 16 queued
    const tiles = (context: Record<string, unknown>) => loadInfraConfig(context).maxConcurrentTiles;
    expect(tiles({})).toBe(3); // 17 / 5 segment invocations
    expect(tiles({ minInstances: 2 })).toBe(6);
    expect(tiles({ segmentMaxConcurrency: 20 })).toBe(1);
    expect(tiles({ endpointMode: "async" })).toBe(4); // SageMaker queues async requests itself
    expect(tiles({ maxConcurrentTiles: 8 })).toBe(8);
    for (const context of [{}, { minInstances: 3, maxInstances: 4 }, { segmentMaxConcurrency: 7 }]) {
      const config = loadInfraConfig(context);
      expect(config.segmentMaxConcurrency * config.maxConcurrentTiles).toBeLessThanOrEqual(
        ENDPOINT_ADMITTED_PER_INSTANCE * config.minInstances,
      );
    }
  });

  it("refuses an instance type whose family the endpoint's inference AMI does not support", () => {
    expect(problemsWith({ instanceType: "ml.c5.xlarge", endpointUsdPerHour: "0.2" })).toContain(
      'instanceType="ml.c5.xlarge": must be a GPU instance of a family the endpoint\'s inference AMI ' +
        "(al2-ami-sagemaker-inference-gpu-3-1, NVIDIA driver 550) supports: g4dn, g5, g6, p4d, p4de, p5",
    );
  });

  it("refuses an async deadline that leaves the segment function no time to write results", () => {
    expect(problemsWith({ endpointMode: "async", segmentTimeoutSeconds: 600, asyncTimeoutMs: 600_000 })).toContain(
      "asyncTimeoutMs=600000: must leave the segment function 60 s",
    );
  });

  it("refuses a log retention CloudWatch does not offer, and a malformed email", () => {
    const message = problemsWith({ logRetentionDays: 8, alarmEmail: "ops" });
    expect(message).toContain("logRetentionDays=8: must be one of 1, 3, 5, 7, 14, 30");
    expect(message).toContain('alarmEmail="ops": must be an email address');
  });

  it("refuses a sign-in domain prefix Cognito would refuse, and a webConsole that is no flag", () => {
    const message = problemsWith({ signInDomainPrefix: "my-aws-lab", webConsole: "maybe" });
    expect(message).toContain('signInDomainPrefix="my-aws-lab": must not contain aws, amazon or cognito');
    expect(message).toContain('webConsole="maybe": must be true or false');
    expect(problemsWith({ signInDomainPrefix: "Lab_Cells" })).toContain(
      "must be 1-63 lower-case letters, digits or '-'",
    );
  });

  it("refuses an unknown key, which is most likely a misspelt one", () => {
    expect(problemsWith({ endpointmode: "async" })).toContain(
      "endpointmode: unknown context key (known: stackName, endpointMode,",
    );
  });

  it("lists every problem at once", () => {
    expect(
      problemsWith({ endpointMode: "sync", maxInstances: "0", lambdaArchitecture: "arm" }).split("\n"),
    ).toHaveLength(4);
  });

  it("stops the app before it builds anything", () => {
    expect(() => createApp({ endpointMode: "sync" })).toThrow(ConfigError);
  });
});

describe("prices", () => {
  it("computes a function's price per second from its memory and architecture", () => {
    expect(lambdaUsdPerSecond(1024, "x86_64")).toBe(0.0000166667);
    expect(lambdaUsdPerSecond(3008, "arm64")).toBeCloseTo(2.9375 * 0.0000133334, 15);
  });

  it("writes prices in fixed point, as the API's configuration parses them", () => {
    expect(priceVariable(lambdaUsdPerSecond(3008, "arm64"))).toBe("0.0000391669");
    expect(priceVariable(1.408)).toBe("1.408");
    expect(priceVariable(2)).toBe("2");
  });
});
