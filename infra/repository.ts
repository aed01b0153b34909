/**
 * Where the app finds the code it deploys: paths inside this repository, independent of the directory
 * `cdk` (or a test) runs from.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPOSITORY_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * @example
 * ```ts
 * repositoryPath("functions/segment/handler.ts"); // "/path/to/cellseg/functions/segment/handler.ts"
 * ```
 */
export function repositoryPath(relativePath: string): string {
  return path.join(REPOSITORY_ROOT, relativePath);
}
