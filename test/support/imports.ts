/**
 * The project's modules and their imports, read from the sources as written: for the tests that check the
 * layout (the dependency rules, what the model image must copy).
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../integration/helpers";

/** The project's TypeScript, tests included. */
export const SOURCE_FOLDERS = [
  "core",
  "plumbing",
  "inference",
  "functions",
  "model-container/src",
  "cli",
  "infra",
  "console/src",
  "bench",
  "scripts",
  "test",
];

/** The `.ts` and `.tsx` files under a folder, as repository paths with `/`. */
export function sourceFiles(folder: string): string[] {
  return readdirSync(path.join(REPO_ROOT, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts"))
    .map((entry) => path.relative(REPO_ROOT, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
    .filter((file) => !file.split("/").includes("node_modules"));
}

/** Every module a source text imports or re-exports, statically or dynamically, as written. */
export function importsIn(text: string): string[] {
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+"([^"]+)"/gms),
    ...text.matchAll(/^\s*import\s+"([^"]+)"/gm),
    ...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
  ];
  return specifiers.map((match) => match[1]!);
}

export function importsOf(file: string): string[] {
  return importsIn(readFileSync(path.join(REPO_ROOT, file), "utf8"));
}

/** Every project file, once. */
export const PROJECT_FILES: ReadonlySet<string> = new Set(SOURCE_FOLDERS.flatMap(sourceFiles));

/** The project file a relative specifier names, or undefined for a package or a non-TypeScript file. */
export function resolveImport(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  return [base, `${base}.ts`, `${base}.tsx`, `${base}/index.ts`].find((candidate) => PROJECT_FILES.has(candidate));
}

/** The project files `entries` import, directly or through others, the entries included. */
export function importClosure(entries: readonly string[]): Set<string> {
  const found = new Set<string>();
  const pending = [...entries];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (found.has(file)) continue;
    found.add(file);
    pending.push(...importsOf(file).flatMap((specifier) => resolveImport(file, specifier) ?? []));
  }
  return found;
}
