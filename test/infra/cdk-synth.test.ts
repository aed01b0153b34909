/**
 * THE "cdk synth runs in CI" CHECK: the real `npx cdk synth`, as a deployment runs it, with bundling (esbuild,
 * and `npm ci` of sharp for the Lambda platform, which needs npm's registry or cache), CDK's CloudFormation
 * validation and cdk-nag. No Docker and no AWS account: synthesis needs neither.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { REPOSITORY_ROOT } from "../../infra/repository";
import { temporaryOutdir } from "./synth";

const run = promisify(execFile);

function bytesUnder(directory: string): number {
  return readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .reduce((total, entry) => total + statSync(path.join(entry.parentPath, entry.name)).size, 0);
}

describe("cdk synth (real bundling, CI check)", () => {
  it("synthesizes the app with the CDK CLI and bundles both functions with sharp for linux-arm64", async () => {
    // Prepare
    const outdir = temporaryOutdir();

    // Act: execFile rejects on a non-zero exit code, with the CLI's output in the error.
    await run("npx", ["cdk", "synth", "--quiet", "-o", outdir], {
      cwd: REPOSITORY_ROOT,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 280_000,
    });

    // Assess
    expect(existsSync(path.join(outdir, "Cellseg.template.json"))).toBe(true);
    const functionAssets = readdirSync(outdir)
      .map((name) => path.join(outdir, name))
      .filter((asset) => existsSync(path.join(asset, "index.mjs")));
    expect(functionAssets).toHaveLength(2);
    for (const asset of functionAssets)
      expect(existsSync(path.join(asset, "node_modules/@img/sharp-linux-arm64"))).toBe(true);
    // Two function bundles with sharp (~25 MB each) and the model image's build context (~32 MB, its ONNX model
    // included): an accidental node_modules or .git in the image context would be hundreds of MB.
    expect(bytesUnder(outdir)).toBeLessThan(150 * 1024 * 1024);
  }, 300_000);
});
