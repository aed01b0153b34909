import { describe, expect, it } from "vitest";
import { loadPipelineConfig } from "../../../../functions/pipeline/config";
import { ConfigError } from "../../../../plumbing/errors";

describe("loadPipelineConfig", () => {
  it("reads a SageMaker deployment with the documented defaults", () => {
    // Act
    const config = loadPipelineConfig({ INPUT_BUCKET: "cellseg-input", ENDPOINT_NAME: "cellseg" });

    // Assess
    expect(config).toEqual({
      inputBucket: "cellseg-input",
      outputBucket: "cellseg-input",
      storage: { kind: "s3" },
      endpoint: { kind: "sagemaker", name: "cellseg" },
      endpointTimeoutMs: 60_000,
      retry: { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 10_000 },
      maxConcurrentTiles: 4,
      settings: {
        tiling: { tileWidth: 704, tileHeight: 520, overlap: 128 },
        maxConcurrentTiles: 4,
        maxPixels: 50_000_000,
        claimTtlMs: 900_000,
        overlayStyle: "outline",
      },
    });
  });

  it("reads a local run: directory storage, the model server over HTTP, threshold overrides", () => {
    // Act
    const config = loadPipelineConfig({
      INPUT_BUCKET: "in",
      OUTPUT_BUCKET: "out",
      STORAGE_BACKEND: "local",
      LOCAL_STORAGE_DIR: "/tmp/buckets",
      MODEL_SERVER_URL: "http://localhost:8080",
      MODEL_PROFILE: "accurate",
      MODEL_THRESHOLDS: '{"scoreThresholds":{"astro":0.3}}',
      TILE_OVERLAP: "64",
      ENDPOINT_NAME: "",
    });

    // Assess
    expect(config).toMatchObject({
      outputBucket: "out",
      storage: { kind: "local", directory: "/tmp/buckets" },
      endpoint: { kind: "http", url: "http://localhost:8080" },
      settings: { profile: "accurate", thresholds: { scoreThresholds: { astro: 0.3 } }, tiling: { overlap: 64 } },
    });
  });

  it("names every missing or malformed variable at once", () => {
    // Act
    const load = () =>
      loadPipelineConfig({
        TILE_WIDTH: "wide",
        MODEL_THRESHOLDS: '{"scoreThresholds":{"astro":2}}',
        MAX_CONCURRENT_TILES: "0",
      });

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(
      new RegExp(
        [
          "INPUT_BUCKET must be set",
          'TILE_WIDTH="wide": must be a whole number',
          'MAX_CONCURRENT_TILES="0": must be at least 1',
        ].join(".*"),
      ),
    );
    expect(load).toThrow(/MODEL_THRESHOLDS=.*0\.95/);
  });

  it.each([
    [{ INPUT_BUCKET: "in" }, /set exactly one of ENDPOINT_NAME .* and MODEL_SERVER_URL/],
    [{ INPUT_BUCKET: "in", ENDPOINT_NAME: "e", MODEL_SERVER_URL: "http://x" }, /set exactly one of ENDPOINT_NAME/],
    [
      { INPUT_BUCKET: "in", ENDPOINT_NAME: "e", STORAGE_BACKEND: "local" },
      /LOCAL_STORAGE_DIR must be set when STORAGE_BACKEND=local/,
    ],
    [
      { INPUT_BUCKET: "in", ENDPOINT_NAME: "e", TILE_OVERLAP: "600" },
      /TILE_OVERLAP=600 must be smaller than TILE_WIDTH and TILE_HEIGHT/,
    ],
  ])("refuses an inconsistent environment %#", (env, message) => {
    expect(() => loadPipelineConfig(env)).toThrow(message);
  });
});
