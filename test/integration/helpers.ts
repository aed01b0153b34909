import { execFile, execFileSync } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { sartoriusPath } from "../support/sartorius-data";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The shared data set, read in place (never copied into the repository). */
export const SARTORIUS = sartoriusPath();
export const TRAIN_IMAGES = path.join(SARTORIUS, "train", "images");

/** Debian's Python, which has torch (the `python3` on PATH may not). */
export const PYTHON = "/usr/bin/python3";
export const TRAINING = path.join(REPO_ROOT, "training");

let torchFound: boolean | undefined;

/** Whether the training code can run here (CI installs it: `.ci/run`); asked once, when first needed. */
export function hasTorch(): boolean {
  if (torchFound === undefined) {
    try {
      execFileSync(PYTHON, ["-c", "import torch, torchvision, onnx, yaml"], { stdio: "ignore" });
      torchFound = true;
    } catch {
      torchFound = false;
      // vitest shows a skipped test without its reason: say it, and how to have it run.
      console.warn(
        `training tests skipped: ${PYTHON} cannot import torch, torchvision, onnx and yaml. Install them with\n` +
          "  apt-get install python3-torch python3-torchvision python3-onnx python3-yaml python3-pytest" +
          " libopenblas0-pthread",
      );
    }
  }
  return torchFound;
}

/** Runs the training package's Python in its folder. */
export const trainingPython = (args: string[]) =>
  promisify(execFile)(PYTHON, args, { cwd: TRAINING, maxBuffer: 64 << 20 });

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bin/cellseg.js` as a user would. */
export function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(REPO_ROOT, "bin", "cellseg.js"), ...args],
      { cwd: REPO_ROOT, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}
