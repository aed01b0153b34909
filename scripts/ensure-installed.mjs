// `npm test` on a fresh clone: install the npm packages first when they are missing or stale.
import { execSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";

const installed = "node_modules/.package-lock.json";
const stale = !existsSync(installed) || statSync(installed).mtimeMs < statSync("package-lock.json").mtimeMs;
if (stale) {
  console.log("installing npm packages (npm ci)...");
  execSync("npm ci", { stdio: "inherit" });
}
