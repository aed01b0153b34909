/**
 * `npm run lint:width` (scripts/check-line-width.mjs), run in a scratch git repository: which files it reads, how it
 * counts a line's width, and what it reports.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const SCRIPT = path.resolve("scripts/check-line-width.mjs");

describe("check-line-width", () => {
  let repo: string;

  beforeEach(async () => {
    repo = await mkdtemp(path.join(tmpdir(), "cellseg-line-width-"));
    execFileSync("git", ["init", "--quiet"], { cwd: repo });
  });

  afterEach(async () => {
    await rm(repo, { recursive: true, force: true });
  });

  async function write(files: Record<string, string>): Promise<void> {
    for (const [name, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(repo, name)), { recursive: true });
      await writeFile(path.join(repo, name), text);
    }
  }

  function check() {
    const run = spawnSync(process.execPath, [SCRIPT], { cwd: repo, encoding: "utf8" });
    return { status: run.status, lines: run.stdout.split("\n").filter((line) => line !== "") };
  }

  it("passes lines of 120 characters, counting characters rather than UTF-16 units or bytes", async () => {
    // Prepare
    await write({
      "a.ts": `${"x".repeat(120)}\n`,
      "b.css": `/* ${"µ細".repeat(57)} */\r\n`,
      "c.sh": `${"🧫".repeat(120)}\n`,
    });

    // Act
    const result = check();

    // Assess
    expect(result).toEqual({ status: 0, lines: [] });
  });

  it("reports each longer line as path:line with its width, in every kind of source file, and fails", async () => {
    // Prepare
    const long = "y".repeat(121);
    await write({
      "core/a.ts": `ok\n${long}\nok\n${"z".repeat(300)}`,
      "console/b.tsx": long,
      "c.js": long,
      "d.mjs": long,
      "e.cjs": long,
      "f.css": long,
      "scripts/g.sh": long,
      ".ci/run": `#!/bin/sh\n${long}\n`,
    });
    execFileSync("git", ["add", "core/a.ts"], { cwd: repo });

    // Act
    const result = check();

    // Assess
    expect(result.status).toBe(1);
    expect(result.lines.slice(0, -1)).toEqual([
      ".ci/run:2: 121 characters",
      "c.js:1: 121 characters",
      "console/b.tsx:1: 121 characters",
      "core/a.ts:2: 121 characters",
      "core/a.ts:4: 300 characters",
      "d.mjs:1: 121 characters",
      "e.cjs:1: 121 characters",
      "f.css:1: 121 characters",
      "scripts/g.sh:1: 121 characters",
    ]);
    expect(result.lines.at(-1)).toMatch(/^9 line\(s\) wider than 120 characters: /);
  });

  it("leaves out Markdown, Python, other files, ignored files and tracked files deleted from the tree", async () => {
    // Prepare
    const long = "w".repeat(200);
    await write({
      "README.md": long,
      "training/train.py": long,
      "data.json": long,
      "notes.txt": long,
      ".gitignore": "build/\n",
      "build/out.js": long,
      "gone.ts": "short",
    });
    execFileSync("git", ["add", "gone.ts"], { cwd: repo });
    await rm(path.join(repo, "gone.ts"));

    // Act
    const result = check();

    // Assess
    expect(result).toEqual({ status: 0, lines: [] });
  });
});
