/**
 * Builds the web console (console/src, bundled with esbuild; nothing fetched at run time): the page,
 * one script and one style sheet whose names carry their content's hash, so that they can be cached for
 * good and the page (never cached) always names the current ones. `npm start` builds it in memory at each
 * start; the CDK app uploads it to the console's bucket.
 */
import { build, buildSync, type BuildOptions, type BuildResult } from "esbuild";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const CONSOLE_DIR = path.dirname(fileURLToPath(import.meta.url));

/** One file of the built console, by its path under the site's root. */
export interface ConsoleFile {
  readonly path: string;
  readonly contentType: string;
  readonly body: Uint8Array;
  /** Named by its content's hash: cacheable forever. */
  readonly immutable: boolean;
}

const OPTIONS = {
  entryPoints: [path.join(CONSOLE_DIR, "src", "main.tsx")],
  bundle: true,
  format: "esm",
  target: ["chrome111", "firefox113", "safari16.4"],
  platform: "browser",
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: true,
  legalComments: "none",
  outdir: path.join(CONSOLE_DIR, "dist", "assets"),
  entryNames: "app-[hash]",
  write: false,
  logLevel: "silent",
} satisfies BuildOptions;

/**
 * @example
 * ```ts
 * const files = await buildConsole();   // index.html, assets/app-<hash>.js, assets/app-<hash>.css
 * ```
 */
export async function buildConsole(): Promise<ConsoleFile[]> {
  return consoleFiles(await build(OPTIONS));
}

/** The same, synchronously: the CDK app bundles its assets synchronously. */
export function buildConsoleSync(): ConsoleFile[] {
  return consoleFiles(buildSync(OPTIONS));
}

function consoleFiles(result: BuildResult<typeof OPTIONS>): ConsoleFile[] {
  const assets = result.outputFiles.map((output) => {
    const name = path.basename(output.path);
    return {
      path: `assets/${name}`,
      contentType: name.endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8",
      body: output.contents,
      immutable: true,
    };
  });
  const named = (extension: string) => assets.find((asset) => asset.path.endsWith(extension))!.path;
  const page = readFileSync(path.join(CONSOLE_DIR, "static", "index.html"), "utf8")
    .replace("%APP_JS%", named(".js"))
    .replace("%APP_CSS%", named(".css"));
  return [
    {
      path: "index.html",
      contentType: "text/html; charset=utf-8",
      body: new TextEncoder().encode(page),
      immutable: false,
    },
    ...assets,
  ];
}
