/**
 * The local stack end to end (`npm start`'s parts, in-process, a folder as the bucket, the model server as
 * a child process with all cores): one job of N held-out images created through the API, uploaded through
 * its links, segmented by the worker. Reports seconds per image from the first upload to the last result,
 * and the pipeline's own share of each image's time (everything but the model's inference: reading,
 * decoding, tiling, HTTP to the endpoint and the endpoint's pre- and post-processing, stitching, encoding
 * the result formats, writing).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createJobResponseSchema, jobViewSchema, type JobView } from "../core/schemas/api";
import { startLocalStack } from "../functions/local/stack";

export interface LocalStackFigures {
  readonly images: number;
  readonly wallSecondsPerImage: number;
  /** Mean over images of the segment function's time (status timings.totalMs). */
  readonly pipelineMsPerImage: number;
  readonly inferenceMsPerImage: number;
  /** 1 - inference / pipeline time, over all images. */
  readonly overheadShare: number;
  readonly stagesMsPerImage: Record<string, number>;
}

export async function benchLocalStack(imagePaths: readonly string[]): Promise<LocalStackFigures> {
  const dataDirectory = await mkdtemp(path.join(tmpdir(), "cellseg-bench-stack-"));
  process.env.POWERTOOLS_LOG_LEVEL ??= "ERROR";
  process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
  const stack = await startLocalStack(
    {
      port: 0,
      host: "127.0.0.1",
      dataDirectory,
      bucket: "cellseg",
      storage: { kind: "directory" },
      modelServer: { kind: "child", port: 0 },
      concurrentImages: 1,
      maxReceives: 1,
      redeliveryDelayMs: 0,
    },
    { ...process.env, CELLSEG_PROFILES: "fast" },
  );
  try {
    const files = imagePaths.map((file) => path.basename(file));
    const created = createJobResponseSchema.parse(
      await (
        await fetch(`${stack.apiUrl}/v1/jobs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ files }),
        })
      ).json(),
    );
    const started = performance.now();
    for (const [i, upload] of created.uploads.entries()) {
      const response = await fetch(upload.url, { method: "PUT", body: await readFile(imagePaths[i]!) });
      if (!response.ok)
        throw new Error(`upload of ${upload.fileName} failed: ${response.status} ${await response.text()}`);
    }
    let view: JobView;
    for (;;) {
      view = jobViewSchema.parse(await (await fetch(`${stack.apiUrl}/v1/jobs/${created.jobId}`)).json());
      if (view.images.succeeded + view.images.failed === view.images.total) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const wallSeconds = (performance.now() - started) / 1000;
    if (view.images.failed > 0) throw new Error(`${view.images.failed} images failed: ${JSON.stringify(view.error)}`);
    const timings = view.files.map((file) => file.timings!);
    const mean = (key: keyof (typeof timings)[number]) => timings.reduce((sum, t) => sum + t[key], 0) / timings.length;
    const stages = [
      "readMs",
      "decodeMs",
      "segmentMs",
      "inferenceMs",
      "stitchMs",
      "renderMs",
      "writeMs",
      "totalMs",
    ] as const;
    return {
      images: timings.length,
      wallSecondsPerImage: wallSeconds / timings.length,
      pipelineMsPerImage: mean("totalMs"),
      inferenceMsPerImage: mean("inferenceMs"),
      overheadShare: 1 - mean("inferenceMs") / mean("totalMs"),
      stagesMsPerImage: Object.fromEntries(stages.map((stage) => [stage, mean(stage)])),
    };
  } finally {
    await stack.stop();
    await rm(dataDirectory, { recursive: true, force: true });
  }
}
