import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadLocalStackConfig } from "../../../../functions/local/config";
import { exposureWarnings } from "../../../../functions/local/stack";
import { ConfigError } from "../../../../plumbing/errors";

describe("loadLocalStackConfig", () => {
  it("reads the documented defaults from an empty environment", () => {
    // Act
    const config = loadLocalStackConfig({});

    // Assess
    expect(config).toEqual({
      port: 3000,
      host: "127.0.0.1",
      dataDirectory: path.resolve("local-data"),
      bucket: "cellseg",
      storage: { kind: "directory" },
      modelServer: { kind: "child", port: 8080 },
      concurrentImages: 1,
      maxReceives: 3,
      redeliveryDelayMs: 5000,
    });
  });

  it("reads every override", () => {
    // Act
    const config = loadLocalStackConfig({
      PORT: "0",
      HOST: "0.0.0.0",
      PUBLIC_URL: "http://lab-server.local:3000/",
      CELLSEG_DATA_DIR: "/var/lib/cellseg",
      LOCAL_STORAGE: "s3rver",
      LOCAL_S3_PORT: "4570",
      LOCAL_BUCKET: "my.bucket-1",
      MODEL_SERVER_PORT: "9090",
      LOCAL_CONCURRENT_IMAGES: "4",
      LOCAL_MAX_RECEIVES: "5",
      LOCAL_REDELIVERY_DELAY_MS: "0",
    });

    // Assess
    expect(config).toEqual({
      port: 0,
      host: "0.0.0.0",
      publicUrl: "http://lab-server.local:3000",
      dataDirectory: "/var/lib/cellseg",
      bucket: "my.bucket-1",
      storage: { kind: "s3rver", port: 4570 },
      modelServer: { kind: "child", port: 9090 },
      concurrentImages: 4,
      maxReceives: 5,
      redeliveryDelayMs: 0,
    });
  });

  it("warns a user who serves other machines without a token or a public address, and nobody else", () => {
    const warnings = (env: Record<string, string>) => exposureWarnings(loadLocalStackConfig(env), env);
    expect(warnings({})).toEqual([]);
    const [noToken, localhostLinks] = warnings({ HOST: "0.0.0.0" });
    expect(noToken).toMatch(/plain HTTP with no API_TOKEN/);
    expect(localhostLinks).toMatch(/upload links name localhost.*set PUBLIC_URL/);
    expect(warnings({ HOST: "0.0.0.0", API_TOKEN: "a".repeat(16), PUBLIC_URL: "http://lab:3000" })).toEqual([]);
  });

  it("uses a model server that is already running when MODEL_SERVER_URL is set", () => {
    const config = loadLocalStackConfig({ MODEL_SERVER_URL: "http://127.0.0.1:8081", MODEL_SERVER_PORT: "9090" });

    expect(config.modelServer).toEqual({ kind: "external", url: "http://127.0.0.1:8081" });
  });

  it("resolves a relative data directory against the working directory", () => {
    const config = loadLocalStackConfig({ CELLSEG_DATA_DIR: "data/here" });

    expect(config.dataDirectory).toBe(path.resolve("data/here"));
    expect(path.isAbsolute(config.dataDirectory)).toBe(true);
  });

  it("treats empty variables as unset", () => {
    const config = loadLocalStackConfig({ PORT: "", LOCAL_STORAGE: "", MODEL_SERVER_URL: "" });

    expect(config).toMatchObject({
      port: 3000,
      storage: { kind: "directory" },
      modelServer: { kind: "child", port: 8080 },
    });
  });

  it.each([
    ["PORT", "65536", /PORT="65536": must be at most 65535/],
    ["PORT", "http", /PORT="http": must be a whole number/],
    ["HOST", "   ", /HOST=" {3}": must not be empty/],
    ["LOCAL_STORAGE", "minio", /LOCAL_STORAGE="minio"/],
    ["LOCAL_BUCKET", "Cellseg_Bucket", /LOCAL_BUCKET="Cellseg_Bucket": must be a valid S3 bucket name/],
    ["MODEL_SERVER_URL", "localhost 8080", /MODEL_SERVER_URL="localhost 8080"/],
    ["LOCAL_CONCURRENT_IMAGES", "0", /LOCAL_CONCURRENT_IMAGES="0": must be at least 1/],
    ["LOCAL_MAX_RECEIVES", "101", /LOCAL_MAX_RECEIVES="101": must be at most 100/],
    ["LOCAL_REDELIVERY_DELAY_MS", "1.5", /LOCAL_REDELIVERY_DELAY_MS="1.5": must be a whole number/],
  ])("refuses %s=%j, naming the variable", (name, value, message) => {
    // Act
    const load = () => loadLocalStackConfig({ [name]: value });

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });

  it("names every bad variable at once", () => {
    expect(() => loadLocalStackConfig({ PORT: "-1", LOCAL_BUCKET: "x" })).toThrow(/PORT="-1".*LOCAL_BUCKET="x"/);
  });
});
