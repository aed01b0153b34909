/**
 * The container image cannot be built here (no Docker engine), so this checks the Dockerfile's contract
 * with SageMaker and with the code: what it is built from, what it runs, and where it puts things.
 */
import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BUNDLED_MODEL_DIR, SAGEMAKER_MODEL_DIR } from "../../../inference/model-store";
import { REPO_ROOT } from "../../integration/helpers";
import { importClosure } from "../../support/imports";

const DOCKERFILE = path.join(REPO_ROOT, "model-container", "Dockerfile");
const SERVE = path.join(REPO_ROOT, "model-container", "serve");
/** Where the Dockerfile puts the repository's files. */
const IMAGE_ROOT = "/opt/program";

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly stage: number;
}

/** The instructions, with continuation lines joined, comments dropped and ARG defaults substituted. */
function parseDockerfile(text: string): Instruction[] {
  const lines = text
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("#"))
    .join("\n")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  const args = new Map<string, string>();
  let stage = -1;
  return lines.map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    let value = rest.join(" ");
    value = value.replace(/\$\{(\w+)\}/g, (whole, name: string) => args.get(name) ?? whole);
    if (keyword.toUpperCase() === "ARG") {
      const [name, def] = value.split("=");
      if (def !== undefined) args.set(name, def);
    }
    if (keyword.toUpperCase() === "FROM") stage++;
    return { keyword: keyword.toUpperCase(), args: value, stage };
  });
}

const text = await readFile(DOCKERFILE, "utf8");
const instructions = parseDockerfile(text);

describe("model-container/Dockerfile", () => {
  const finalStage = Math.max(...instructions.map((i) => i.stage));
  const inFinal = (keyword: string) => instructions.filter((i) => i.stage === finalStage && i.keyword === keyword);
  const all = (keyword: string) => instructions.filter((i) => i.keyword === keyword);

  it("runs on a CUDA 12 runtime image with cuDNN, as onnxruntime-node's CUDA provider needs", () => {
    // Act
    const base = inFinal("FROM")[0].args;

    // Assess
    expect(base).toMatch(/^nvidia\/cuda:12\.\d+(\.\d+)?-cudnn(9)?-runtime-ubuntu\d{2}\.\d{2}$/);
  });

  it("uses Node 22", () => {
    const nodeImages = all("FROM")
      .map((i) => i.args)
      .filter((image) => image.startsWith("node:"));
    expect(nodeImages.length).toBeGreaterThan(0);
    for (const image of nodeImages) expect(image).toMatch(/^node:22[.-]/);
    expect(inFinal("COPY").some((i) => /--from=\w+ \/usr\/local\/bin\/node /.test(i.args))).toBe(true);
  });

  it("installs production dependencies only, with onnxruntime-node's CUDA 12 binaries", () => {
    // Prepare: the install script's own names (node_modules/onnxruntime-node/script/install-utils.js).
    const env = all("ENV")
      .map((i) => i.args)
      .join(" ");

    // Assess
    expect(all("RUN").some((i) => /\bnpm ci --omit=dev\b/.test(i.args))).toBe(true);
    expect(env).toMatch(/\bONNXRUNTIME_NODE_INSTALL=cuda12\b/);
  });

  it("runs as a non-root user", () => {
    const users = inFinal("USER");
    expect(users).toHaveLength(1);
    expect(users[0].args).not.toMatch(/^(root|0)(:|$)/);
  });

  it("exposes SageMaker's port 8080 and starts through the serve script, as `docker run <image> serve` does", () => {
    expect(inFinal("EXPOSE").map((i) => i.args)).toEqual(["8080"]);
    expect(JSON.parse(inFinal("ENTRYPOINT")[0].args)).toEqual([`${IMAGE_ROOT}/model-container/serve`]);
    expect(JSON.parse(inFinal("CMD")[0].args)).toEqual(["serve"]);
  });

  it("copies every module the model server imports, directly or through others", () => {
    // Prepare: the server's entry point and its inference worker (started by path, not imported).
    const copied = inFinal("COPY")
      .filter((i) => !i.args.startsWith("--from="))
      .map((i) => i.args.replace(/--chmod=\S+\s+/, "").split(/\s+/)[0]!);
    const modules = importClosure([
      "model-container/src/server/main.ts",
      "model-container/src/server/inference-worker.ts",
    ]);

    // Act
    const missing = [...modules].filter(
      (file) => !copied.some((source) => file === source || file.startsWith(`${source}/`)),
    );

    // Assess
    expect(modules.size).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });

  it("copies the sources, models and serve script to the paths the code resolves", () => {
    // Prepare: the bundled model directory, relative to the repository, is where it must land in the image.
    const copies = inFinal("COPY").map((i) => i.args.replace(/--chmod=\S+\s+/, ""));
    const bundled = path.relative(REPO_ROOT, BUNDLED_MODEL_DIR).split(path.sep).join("/");

    // Assess
    expect(inFinal("WORKDIR").map((i) => i.args)).toContain(IMAGE_ROOT);
    for (const source of ["core", "inference", "plumbing", "model-container/src", bundled, "model-container/serve"]) {
      expect(copies).toContain(`${source} ./${source}`);
    }
    expect(copies.some((c) => c.startsWith("--from=deps /opt/program/node_modules ./node_modules"))).toBe(true);
    expect(copies.some((c) => /^package\.json\b/.test(c))).toBe(true);
  });

  it("documents SageMaker's model directory, which the server prefers when present", () => {
    expect(SAGEMAKER_MODEL_DIR).toBe("/opt/ml/model");
    expect(text).toContain(SAGEMAKER_MODEL_DIR);
  });
});

describe("model-container/serve", () => {
  it("is an executable sh script that execs the server", async () => {
    // Prepare
    const script = await readFile(SERVE, "utf8");

    // Act
    const mode = (await stat(SERVE)).mode;

    // Assess
    await expect(access(SERVE, constants.X_OK)).resolves.toBeUndefined();
    expect(mode & 0o111).toBe(0o111);
    expect(script.split("\n")[0]).toBe("#!/bin/sh");
    expect(script).toMatch(/^exec node --import tsx model-container\/src\/server\/main\.ts$/m);
  });

  it("is the command npm run model-server runs", async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, "package.json"), "utf8"));
    const script = await readFile(SERVE, "utf8");
    expect(script).toContain(`exec ${pkg.scripts["model-server"]}`);
  });

  it("keeps tsx a production dependency, since the image runs TypeScript through it", async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, "package.json"), "utf8"));
    expect(pkg.dependencies).toHaveProperty("tsx");
  });
});
