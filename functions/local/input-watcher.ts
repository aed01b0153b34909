/**
 * The local stand-in for S3's event notifications when the local "bucket" is a directory: a file that
 * appears (or changes) under `<bucket>/input/` is reported by its key, once it has stopped growing, so
 * that a file still being copied in is not segmented half-written. Files already there when watching
 * starts are reported at once: whatever was dropped while the stack was down gets processed (the pipeline
 * skips runs that already succeeded; a file caught mid-copy at start fails as a truncated image and is
 * segmented again when its last write is reported as a change).
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { watch } from "chokidar";
import { KEY_PREFIXES } from "../../core/schemas/object-keys";
import { errorFields } from "../../plumbing/error-fields";
import type { Logger } from "../../plumbing/logger";

export interface InputWatcher {
  /** Resolves once the files already present have been reported. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export interface InputWatcherOptions {
  /** The bucket's directory: keys are paths relative to it. */
  readonly bucketDirectory: string;
  readonly onObject: (key: string) => void;
  readonly logger: Logger;
  /** How long a file's size must stay the same before it counts as written. @default 500 */
  readonly stabilityMs?: number;
}

/**
 * @example
 * ```ts
 * const watcher = watchInputFolder({
 *   bucketDirectory: "local-data/cellseg",
 *   onObject: (key) => queue.send(...),
 *   logger,
 * });
 * await watcher.ready;
 * ```
 */
export function watchInputFolder(options: InputWatcherOptions): InputWatcher {
  const root = path.join(options.bucketDirectory, KEY_PREFIXES.input);
  // A folder that does not exist yet cannot be watched.
  mkdirSync(root, { recursive: true });
  const watcher = watch(root, {
    // Hidden files and folders (.DS_Store, editors' swap files, partial downloads) are not uploads.
    ignored: (file) =>
      path
        .relative(root, file)
        .split(path.sep)
        .some((segment) => segment.startsWith(".")),
    ignoreInitial: false,
    // chokidar's atomic-write filter drops paths ending in '~' (editors' backups), a job folder named `~`
    // among them, which the API accepts; the hidden-file rule above already keeps editors' temporaries out.
    atomic: false,
    awaitWriteFinish: { stabilityThreshold: options.stabilityMs ?? 500, pollInterval: 100 },
  });
  const report = (file: string) =>
    options.onObject(path.relative(options.bucketDirectory, file).split(path.sep).join("/"));
  watcher.on("add", report).on("change", report);
  watcher.on("error", (error) =>
    options.logger.error("watching the input folder failed", { root, error: errorFields(error) }),
  );
  return {
    ready: new Promise((resolve) => watcher.once("ready", () => resolve())),
    close: () => watcher.close(),
  };
}
