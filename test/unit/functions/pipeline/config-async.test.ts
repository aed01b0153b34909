import { describe, expect, it } from "vitest";
import { loadPipelineConfig } from "../../../../functions/pipeline/config";
import { ConfigError } from "../../../../plumbing/errors";

describe("loadPipelineConfig with ENDPOINT_MODE=async", () => {
  it("reads an async deployment with the documented defaults and the longer deadline", () => {
    // Act
    const config = loadPipelineConfig({
      INPUT_BUCKET: "in",
      ENDPOINT_MODE: "async",
      ENDPOINT_NAME: "cellseg-async",
      ASYNC_BUCKET: "cellseg-async",
    });

    // Assess
    expect(config.endpoint).toEqual({
      kind: "sagemaker-async",
      name: "cellseg-async",
      bucket: "cellseg-async",
      prefix: "async/",
      maxPollMs: 5_000,
      retryDelaySeconds: 60,
    });
    expect(config.endpointTimeoutMs).toBe(600_000);
  });

  it("reads the async variables when set, and ignores the real-time deadline", () => {
    // Act
    const config = loadPipelineConfig({
      INPUT_BUCKET: "in",
      ENDPOINT_MODE: "async",
      ENDPOINT_NAME: "cellseg-async",
      ASYNC_BUCKET: "shared-bucket",
      ASYNC_PREFIX: "cellseg/async/",
      ASYNC_TIMEOUT_MS: "300000",
      ASYNC_POLL_MAX_MS: "2000",
      ASYNC_RETRY_DELAY_SECONDS: "120",
      ENDPOINT_TIMEOUT_MS: "30000",
    });

    // Assess
    expect(config.endpoint).toEqual({
      kind: "sagemaker-async",
      name: "cellseg-async",
      bucket: "shared-bucket",
      prefix: "cellseg/async/",
      maxPollMs: 2_000,
      retryDelaySeconds: 120,
    });
    expect(config.endpointTimeoutMs).toBe(300_000);
  });

  it("stays real-time by default, ignoring the async variables", () => {
    // Act
    const config = loadPipelineConfig({
      INPUT_BUCKET: "in",
      ENDPOINT_NAME: "cellseg",
      ASYNC_BUCKET: "cellseg-async",
      ASYNC_TIMEOUT_MS: "300000",
    });

    // Assess
    expect(config.endpoint).toEqual({ kind: "sagemaker", name: "cellseg" });
    expect(config.endpointTimeoutMs).toBe(60_000);
  });

  const asyncDeployment = {
    INPUT_BUCKET: "in",
    ENDPOINT_MODE: "async",
    ENDPOINT_NAME: "cellseg-async",
    ASYNC_BUCKET: "cellseg-async",
  };

  it.each([
    [{ ...asyncDeployment, ENDPOINT_NAME: undefined }, /ENDPOINT_MODE=async needs ENDPOINT_NAME/],
    [
      { ...asyncDeployment, ENDPOINT_NAME: undefined, MODEL_SERVER_URL: "http://localhost:8080" },
      /ENDPOINT_MODE=async needs ENDPOINT_NAME .* and no MODEL_SERVER_URL/,
    ],
    [
      { ...asyncDeployment, MODEL_SERVER_URL: "http://localhost:8080" },
      /no MODEL_SERVER_URL: the model server has no asynchronous mode/,
    ],
    [{ ...asyncDeployment, ASYNC_BUCKET: undefined }, /ASYNC_BUCKET must be set when ENDPOINT_MODE=async/],
    [{ ...asyncDeployment, ASYNC_PREFIX: "async" }, /ASYNC_PREFIX="async": must end with \//],
    [{ ...asyncDeployment, ASYNC_PREFIX: "/async/" }, /ASYNC_PREFIX="\/async\/": must not start with \//],
    [{ ...asyncDeployment, ASYNC_TIMEOUT_MS: "900000" }, /ASYNC_TIMEOUT_MS="900000": must be at most 840000/],
    [{ ...asyncDeployment, ASYNC_POLL_MAX_MS: "0" }, /ASYNC_POLL_MAX_MS="0": must be at least 1/],
    [{ ...asyncDeployment, ENDPOINT_MODE: "batch" }, /ENDPOINT_MODE="batch"/],
  ])("refuses a bad async environment, naming the variable %#", (env, message) => {
    // Act
    const load = () => loadPipelineConfig(env);

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });
});
