/**
 * The local stand-in for S3's event notifications when the local "bucket" is a directory: a file that
 * appears (or changes) under `<bucket>/input/` is reported by its key, once it has stopped growing, so
 * that a file still being copied in is not segmented half-written. Files already there when watching
 * starts are reported at once: whatever was dropped while the stack was down gets processed (the pipeline
 * skips runs that already succeeded; a file caught mid-copy at start fails as a truncated image and is
 * segmented again when its last write is reported as a change).
 */
import { mkdirSync } from "node:fs";
import { readdir } from "node:fs/promises";
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
  /** How long after a folder appears it is looked at again for files the watcher missed. @default 2000 */
  readonly recheckNewFolderMs?: number;
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
  // Hidden files and folders (.DS_Store, editors' swap files, partial downloads) are not uploads.
  const hidden = (file: string) =>
    path
      .relative(root, file)
      .split(path.sep)
      .some((segment) => segment.startsWith("."));
  const watcher = watch(root, {
    ignored: hidden,
    ignoreInitial: false,
    // chokidar's atomic-write filter drops paths ending in '~' (editors' backups), a job folder named `~`
    // among them, which the API accepts; the hidden-file rule above already keeps editors' temporaries out.
    atomic: false,
    awaitWriteFinish: { stabilityThreshold: options.stabilityMs ?? 500, pollInterval: 100 },
  });
  const report = (file: string) =>
    options.onObject(path.relative(options.bucketDirectory, file).split(path.sep).join("/"));
  watcher.on("add", report).on("change", report);
  // chokidar lists a new folder before it watches it: a file written in between is never reported (chokidar
  // issue #1471; seen when a folder and its files are copied in at once). Once the folder is watched, a file in
  // it that chokidar does not know is handed to it, which reports it as any other (once written).
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  const adoptMissed = async (folder: string) => {
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    if (closed) return;
    const known = new Set(watcher.getWatched()[folder] ?? []);
    for (const entry of entries) {
      const file = path.join(folder, entry.name);
      if (entry.isFile() && !known.has(entry.name) && !hidden(file)) watcher.add(file);
    }
  };
  watcher.on("addDir", (folder) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      void adoptMissed(folder);
    }, options.recheckNewFolderMs ?? 2000);
    timers.add(timer);
  });
  watcher.on("error", (error) =>
    options.logger.error("watching the input folder failed", { root, error: errorFields(error) }),
  );
  return {
    ready: new Promise((resolve) => watcher.once("ready", () => resolve())),
    close: () => {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      return watcher.close();
    },
  };
}
