import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { hasTorch, PYTHON, TRAINING } from "./helpers";

const hasPytest = () => {
  try {
    execFileSync(PYTHON, ["-c", "import pytest"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

// The training package's own tests (training/tests); .ci/run installs torch and pytest.
describe.skipIf(!hasTorch() || !hasPytest())(
  "training package pytest suite (skipped: no torch or pytest for /usr/bin/python3)",
  () => {
    it("passes", async () => {
      const { stdout } = await promisify(execFile)(PYTHON, ["-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"], {
        cwd: TRAINING,
        maxBuffer: 16 << 20,
      });
      // pytest exits non-zero (execFile rejects) on any failure; its summary line says so too. The warnings
      // summary above it may quote library text with any words in it.
      expect(stdout).toMatch(/\d+ passed/);
      expect(stdout).not.toMatch(/\d+ (failed|errors?)\b/);
    }, 300_000);
  },
);
