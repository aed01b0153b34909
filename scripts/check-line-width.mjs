// `npm run lint:width`: no line of the project's code is wider than Biome's lineWidth. Biome wraps code to it but
// cannot break string literals or comments, and has no rule that reports them; this check does. Markdown is prose
// and tables (exempt), Python is flake8's (training/.flake8).
// Prints `path:line: N characters` for each line that is too long and exits 1; run in the repository's root.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

const MAX_WIDTH = 120;
// Tracked and new (not ignored) files, so that a file is checked before its first commit.
const CHECKED = ["*.ts", "*.tsx", "*.js", "*.mjs", "*.cjs", "*.css", "*.sh", ".ci/run"];

const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ...CHECKED], {
  encoding: "utf8",
})
  .split("\0")
  // A tracked file deleted in the working tree is still listed.
  .filter((file) => file !== "" && existsSync(file));

let found = 0;
for (const file of [...new Set(files)].sort()) {
  readFileSync(file, "utf8")
    .split(/\r?\n/)
    .forEach((line, index) => {
      // Characters, not UTF-16 units: "µ" and "細" are one each.
      const width = [...line].length;
      if (width > MAX_WIDTH) {
        console.log(`${file}:${index + 1}: ${width} characters`);
        found++;
      }
    });
}
if (found > 0) {
  console.log(
    `${found} line(s) wider than ${MAX_WIDTH} characters: split long strings (concatenation keeps the value) ` +
      "and re-wrap comments; `npm run format` wraps the code.",
  );
  process.exit(1);
}
