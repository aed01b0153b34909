import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sartoriusPath } from "../support/sartorius-data";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The shared data set, read in place (never copied into the repository). */
export const SARTORIUS = sartoriusPath();
export const TRAIN_IMAGES = path.join(SARTORIUS, "train", "images");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bin/cellseg.js` as a user would. */
export function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, "bin", "cellseg.js"), ...args], { cwd: REPO_ROOT, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
