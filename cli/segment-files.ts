import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import cliProgress from "cli-progress";
import { decodeImage, decodeImagePages } from "../core/image/decode";
import { SUBMISSION_CSV_HEADER } from "../core/kaggle/csv";
import { renderImageResults } from "../core/outputs/image-results";
import { MEASUREMENTS_CSV_HEADER, SUMMARY_CSV_HEADER } from "../core/outputs/measurements-csv";
import type { OverlayStyle } from "../core/outputs/overlay-png";
import type { Profile } from "../core/schemas/manifest";
import { hasImageExtension, IMAGE_EXTENSIONS } from "../core/image/extensions";
import type { StageTimings } from "../core/segmentation/segmenter";
import type { CellType, GrayImage } from "../core/types";
import { defaultModelDir, loadModels, readManifest } from "../inference/model-store";
import type { ExecutionProviderChoice } from "../inference/types";

export interface SegmentFilesOptions {
  readonly inputs: readonly string[];
  readonly outDir: string;
  /** Default: the manifest's `defaultProfile`. */
  readonly profile?: Profile;
  /** Every page of a multi-page TIFF (as `<name>-p<k>`), instead of the first page only. */
  readonly allPages: boolean;
  readonly overlayStyle: OverlayStyle;
  /** Micrometres per pixel of every image, over what a TIFF's resolution tags say. */
  readonly pixelSizeUm?: number;
  readonly modelDir?: string;
  readonly executionProvider: ExecutionProviderChoice;
  readonly threads?: number;
  /** The CPU runs the float32 detector and mask head, not the int8 ones. */
  readonly float32?: boolean;
  /** Where progress and skipped files are reported; a bar is drawn only on a terminal. */
  readonly log?: NodeJS.WriteStream;
}

export interface ImageRecord {
  readonly id: string;
  readonly file: string;
  readonly width: number;
  readonly height: number;
  readonly cellType: CellType | null;
  readonly cells: number;
  readonly timings: StageTimings & { decodeMs: number; encodeMs: number };
}

export interface SegmentFilesSummary {
  readonly succeeded: number;
  readonly failed: number;
  readonly images: ImageRecord[];
  readonly failures: { file: string; error: string }[];
  /** Files of the input folders that are not images this reads (not failures: the exit code ignores them). */
  readonly ignored: { file: string; reason: string }[];
}

/**
 * Segments files and folders one image at a time (a batch of any size runs in bounded memory) and writes
 * `<out>/submission.csv`, `<out>/measurements.csv`, `<out>/summary.csv`, `<out>/<id>.coco.json`,
 * `<out>/<id>.labels.png`, `<out>/<id>.overlay.png`, `<out>/<id>.geojson` and `<out>/report.json`. A file
 * that cannot be read or decoded is reported and skipped.
 */
export async function segmentFiles(options: SegmentFilesOptions): Promise<SegmentFilesSummary> {
  const log = options.log ?? process.stderr;
  const failures: { file: string; error: string }[] = [];
  const { files, ignored } = await collectImageFiles(options.inputs, failures);
  const profile = options.profile ?? (await readManifest(options.modelDir ?? defaultModelDir())).defaultProfile;
  const { segmenters, manifest } = await loadModels({
    modelDir: options.modelDir,
    profiles: [profile],
    executionProvider: options.executionProvider,
    threads: options.threads,
    float32: options.float32,
  });
  await mkdir(options.outDir, { recursive: true });
  const submission = createWriteStream(path.join(options.outDir, "submission.csv"));
  submission.write(SUBMISSION_CSV_HEADER);
  const measurements = createWriteStream(path.join(options.outDir, "measurements.csv"));
  measurements.write(MEASUREMENTS_CSV_HEADER);
  const summaries = createWriteStream(path.join(options.outDir, "summary.csv"));
  summaries.write(SUMMARY_CSV_HEADER);

  const progress = log.isTTY
    ? new cliProgress.MultiBar(
        { stream: log, format: "{bar} {value}/{total} images | {file}", hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const bar = progress?.create(files.length, 0, { file: "" });
  const report = (line: string) => (progress ? progress.log(`${line}\n`) : log.write(`${line}\n`));
  const images: ImageRecord[] = [];
  const usedIds = new Set<string>();

  for (const file of files) {
    bar?.update({ file: path.basename(file) });
    try {
      const decodeStarted = performance.now();
      const bytes = await readFile(file);
      const pages = options.allPages ? await decodeImagePages(bytes) : [await decodeImage(bytes)];
      const decodeMs = (performance.now() - decodeStarted) / pages.length;
      const baseId = path.parse(file).name;
      for (const [index, image] of pages.entries()) {
        const id = uniqueId(pages.length > 1 ? `${baseId}-p${index + 1}` : baseId, usedIds);
        const record = await segmentOne(id, file, image, decodeMs);
        images.push(record);
        if (!progress)
          report(
            `${file}: ${record.cells} ${record.cellType ?? ""} cells ` +
              `(${Math.round(record.timings.inferenceMs)} ms inference)`,
          );
      }
    } catch (error) {
      failures.push({ file, error: (error as Error).message });
      report(`skipped ${file}: ${(error as Error).message}`);
    }
    bar?.increment();
  }
  progress?.stop();
  await Promise.all([submission, measurements, summaries].map(closeStream));

  const summary = { succeeded: images.length, failed: failures.length, images, failures, ignored };
  await writeFile(
    path.join(options.outDir, "report.json"),
    JSON.stringify({ modelVersion: manifest.version, profile, ...summary }, null, 2),
  );
  log.write(`${images.length} image(s) segmented, ${failures.length} skipped; results in ${options.outDir}\n`);
  return summary;

  async function segmentOne(id: string, file: string, image: GrayImage, decodeMs: number): Promise<ImageRecord> {
    const { instances, timings } = await segmenters[profile]!.segment(image);
    const encodeStarted = performance.now();
    const results = await renderImageResults(id, path.basename(file), image, instances, {
      overlayStyle: options.overlayStyle,
      ...(options.pixelSizeUm !== undefined ? { pixelSizeUm: options.pixelSizeUm } : {}),
    });
    const base = path.join(options.outDir, id);
    await Promise.all([
      writeFile(`${base}.coco.json`, JSON.stringify(results.coco)),
      writeFile(`${base}.labels.png`, results.labelPng),
      writeFile(`${base}.overlay.png`, results.overlayPng),
      writeFile(`${base}.geojson`, JSON.stringify(results.outlines)),
    ]);
    submission.write(results.submissionRows);
    measurements.write(results.measurementRows);
    summaries.write(results.summaryRow);
    return {
      id,
      file,
      width: image.width,
      height: image.height,
      cellType: instances[0]?.cellType ?? null,
      cells: instances.length,
      timings: { ...timings, decodeMs, encodeMs: performance.now() - encodeStarted },
    };
  }
}

/** Files as given, and image files found (recursively, sorted) in folders; unreadable inputs become failures. */
export async function collectImageFiles(
  inputs: readonly string[],
  failures: { file: string; error: string }[],
): Promise<{ files: string[]; ignored: { file: string; reason: string }[] }> {
  const files: string[] = [];
  const ignored: { file: string; reason: string }[] = [];
  for (const input of inputs) {
    try {
      const info = await stat(input);
      if (!info.isDirectory()) {
        files.push(input);
        continue;
      }
      const entries = await readdir(input, { recursive: true, withFileTypes: true });
      // Symbolic links count too (a folder of links into a data store is common); a broken one is reported when read.
      const found = entries
        .filter((e) => e.isFile() || e.isSymbolicLink())
        .map((e) => ({ name: e.name, file: path.join(e.parentPath, e.name) }));
      files.push(
        ...found
          .filter((e) => hasImageExtension(e.name))
          .map((e) => e.file)
          .sort(),
      );
      // Other files of a folder are left alone, but listed (a .gif is not a failure, yet its owner should know);
      // hidden ones (.DS_Store) are nobody's data.
      ignored.push(
        ...found
          .filter((e) => !hasImageExtension(e.name) && !e.name.startsWith("."))
          .map((e) => ({ file: e.file, reason: `not a PNG, TIFF or JPEG file name (${IMAGE_EXTENSIONS.join(", ")})` }))
          .sort((a, b) => a.file.localeCompare(b.file)),
      );
    } catch (error) {
      failures.push({ file: input, error: (error as Error).message });
    }
  }
  return { files, ignored };
}

/** Two inputs named alike (a.png in two folders) must not overwrite each other's results. */
function uniqueId(id: string, used: Set<string>): string {
  let candidate = id;
  for (let n = 2; used.has(candidate); n++) candidate = `${id}-${n}`;
  used.add(candidate);
  return candidate;
}

function closeStream(stream: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
}
