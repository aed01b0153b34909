import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** A path in the shared Sartorius data, which lives beside the repository and is never copied into it. */
export function sartoriusPath(...parts: string[]): string {
  return path.resolve(repoRoot, "..", "shared", "data", "sartorius", ...parts);
}
