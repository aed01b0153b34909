import { describe, expect, it } from "vitest";
import { loadApiConfig } from "../../../../functions/api/config";
import { ConfigError } from "../../../../plumbing/errors";

/** The least a pipeline needs: the API reads the pipeline's variables too. */
const PIPELINE = { INPUT_BUCKET: "cellseg-in", ENDPOINT_NAME: "cellseg" } as const;

describe("loadApiConfig", () => {
  it("reads the documented defaults", () => {
    // Act
    const config = loadApiConfig(PIPELINE);

    // Assess
    expect(config).toMatchObject({
      uploadUrlTtlSeconds: 3600,
      resultUrlTtlSeconds: 900,
      maxFilesPerJob: 1536,
      maxUploadBytes: 256 * 1024 * 1024,
      sync: { maxBytes: 4 * 1024 * 1024, maxPixels: 4 * 1024 * 1024, timeoutMs: 25_000 },
      pricing: { endpointUsdPerHour: 0.7364, functionUsdPerSecond: 0.0000391669 },
      pipeline: { inputBucket: "cellseg-in", endpoint: { kind: "sagemaker", name: "cellseg" } },
      corsAllowOrigins: [],
    });
    expect(config).not.toHaveProperty("bearerToken");
  });

  it("reads every override", () => {
    // Act
    const config = loadApiConfig({
      ...PIPELINE,
      UPLOAD_URL_TTL_SECONDS: "60",
      RESULT_URL_TTL_SECONDS: " 30 ",
      MAX_FILES_PER_JOB: "384",
      MAX_UPLOAD_BYTES: "1000",
      MAX_SYNC_IMAGE_BYTES: "2048",
      MAX_SYNC_IMAGE_PIXELS: "1000000",
      SYNC_TIMEOUT_MS: "5000",
      COST_ENDPOINT_USD_PER_HOUR: "0.5",
      COST_FUNCTION_USD_PER_SECOND: "0.0000166667",
      API_TOKEN: "a-long-enough-token",
      CORS_ALLOW_ORIGINS: "https://d111.cloudfront.net, http://localhost:5173",
    });

    // Assess
    expect(config).toMatchObject({
      uploadUrlTtlSeconds: 60,
      resultUrlTtlSeconds: 30,
      maxFilesPerJob: 384,
      maxUploadBytes: 1000,
      sync: { maxBytes: 2048, maxPixels: 1_000_000, timeoutMs: 5000 },
      pricing: { endpointUsdPerHour: 0.5, functionUsdPerSecond: 0.0000166667 },
      bearerToken: "a-long-enough-token",
      corsAllowOrigins: ["https://d111.cloudfront.net", "http://localhost:5173"],
    });
  });

  it("keeps the synchronous pixel limit within the pipeline's", () => {
    const config = loadApiConfig({ ...PIPELINE, MAX_SYNC_IMAGE_PIXELS: "9000000", MAX_IMAGE_PIXELS: "2000000" });

    expect(config.sync.maxPixels).toBe(2_000_000);
  });

  it("treats an empty variable as unset", () => {
    const config = loadApiConfig({ ...PIPELINE, API_TOKEN: "", MAX_FILES_PER_JOB: "" });

    expect(config.maxFilesPerJob).toBe(1536);
    expect(config).not.toHaveProperty("bearerToken");
  });

  it.each([
    ["UPLOAD_URL_TTL_SECONDS", "0", /UPLOAD_URL_TTL_SECONDS="0": must be at least 1/],
    ["UPLOAD_URL_TTL_SECONDS", String(7 * 24 * 3600 + 1), /UPLOAD_URL_TTL_SECONDS="604801": must be at most 604800/],
    ["MAX_FILES_PER_JOB", "10001", /MAX_FILES_PER_JOB="10001": must be at most 10000/],
    ["MAX_UPLOAD_BYTES", "1e6", /MAX_UPLOAD_BYTES="1e6": must be a whole number/],
    ["SYNC_TIMEOUT_MS", "-5", /SYNC_TIMEOUT_MS="-5": must be a whole number/],
    ["COST_ENDPOINT_USD_PER_HOUR", "one dollar", /COST_ENDPOINT_USD_PER_HOUR="one dollar": must be a decimal number/],
    ["COST_FUNCTION_USD_PER_SECOND", "-0.1", /COST_FUNCTION_USD_PER_SECOND="-0.1": must be a decimal number/],
    ["API_TOKEN", "short", /API_TOKEN="short": must be at least 16 characters/],
    ["CORS_ALLOW_ORIGINS", "https://console.example.com/app", /CORS_ALLOW_ORIGINS=.*no path/],
    ["CORS_ALLOW_ORIGINS", "ftp://console.example.com", /CORS_ALLOW_ORIGINS=/],
  ])("refuses %s=%j, naming the variable", (name, value, message) => {
    // Act
    const load = () => loadApiConfig({ ...PIPELINE, [name]: value });

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });

  it("names every bad API variable at once", () => {
    const load = () => loadApiConfig({ ...PIPELINE, MAX_FILES_PER_JOB: "0", API_TOKEN: "short" });

    expect(load).toThrow(/MAX_FILES_PER_JOB="0".*API_TOKEN="short"/);
  });

  it("refuses a bad pipeline variable, naming it", () => {
    expect(() => loadApiConfig({ ENDPOINT_NAME: "cellseg" })).toThrow(/INPUT_BUCKET must be set/);
  });

  // The TSDoc promises "ConfigError naming every malformed or missing variable (the pipeline's included)",
  // but the pipeline's variables are checked first and throw on their own: the API's are never reported.
  it("names the API's bad variables together with the pipeline's", () => {
    expect(() => loadApiConfig({ ENDPOINT_NAME: "cellseg", MAX_FILES_PER_JOB: "0" })).toThrow(
      /INPUT_BUCKET must be set.*MAX_FILES_PER_JOB="0"/,
    );
  });
});
