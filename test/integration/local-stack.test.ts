/**
 * The local stack end to end, as a user meets it: the HTTPS API, uploads through the links it hands out,
 * the worker, a real S3 protocol server (s3rver) or a plain folder as the bucket, and the real model
 * server. One part runs the stack in-process (the API over s3rver); the other runs `npm start`'s entry
 * as a process, drops a file into the input folder and stops it with Ctrl-C (SIGINT).
 */
import { copyFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { parseSubmissionCsv } from "../../core/kaggle/csv";
import { maskArea } from "../../core/masks/binary-mask";
import { decodeCocoRle } from "../../core/masks/coco-rle";
import { decodeKaggleRle } from "../../core/masks/kaggle-rle";
import { MEASUREMENTS_CSV_HEADER, SUMMARY_CSV_HEADER } from "../../core/outputs/measurements-csv";
import type { OutlinesDocument } from "../../core/outputs/outlines-geojson";
import { createJobResponseSchema, jobViewSchema } from "../../core/schemas/api";
import { instancesDocumentSchema, jobStatusSchema } from "../../core/schemas/job-documents";
import type { LocalStackConfig } from "../../functions/local/config";
import { LOCAL_S3_CREDENTIALS } from "../../functions/local/s3-server";
import { startLocalStack, type LocalStack } from "../../functions/local/stack";
import { pngClaiming } from "../support/forged-png";
import { finishedJob, json, startLocalService, type LocalService } from "../support/local-service";
import { startModelServer, type ModelServer } from "../support/model-server";
import { TRAIN_IMAGES } from "./helpers";

// A sparse cort image and a dense shsy5y one: real images, read in place.
const CORT_IMAGE = "0030fd0e6378";
const SHSY5Y_IMAGE = "2025512a5956";

describe("local stack: the API over s3rver, the real model server", () => {
  let server: ModelServer;
  let stack: LocalStack;
  let dataDirectory: string;

  beforeAll(async () => {
    // The SDK signs with s3rver's credentials (npm start sets them the same way).
    process.env.AWS_ACCESS_KEY_ID = LOCAL_S3_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = LOCAL_S3_CREDENTIALS.secretAccessKey;
    process.env.POWERTOOLS_LOG_LEVEL = "WARN";
    process.env.POWERTOOLS_METRICS_DISABLED = "true";
    dataDirectory = await mkdtemp(path.join(tmpdir(), "cellseg-stack-"));
    server = await startModelServer();
    const config: LocalStackConfig = {
      port: 0,
      host: "127.0.0.1",
      dataDirectory,
      bucket: "cellseg",
      storage: { kind: "s3rver", port: 0 },
      modelServer: { kind: "external", url: server.url },
      concurrentImages: 1,
      maxReceives: 2,
      redeliveryDelayMs: 50,
    };
    stack = await startLocalStack(config, process.env);
  });

  afterAll(async () => {
    await stack?.stop();
    await server?.stop();
    await rm(dataDirectory, { recursive: true, force: true });
  });

  it(
    "runs a job of several images: presigned uploads, per-image state, every result format, " +
      "a corrupt image failing alone",
    async () => {
      const api = stack.apiUrl;
      const created = await json(
        await fetch(`${api}/v1/jobs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            files: [`${CORT_IMAGE}.png`, `plate 1/${SHSY5Y_IMAGE}.tif`, "broken.png"],
            pixelSizeUm: 0.65,
          }),
        }),
        createJobResponseSchema,
      );
      expect(created.uploads).toHaveLength(3);
      expect(created.uploadUrl).toBeUndefined();
      for (const upload of created.uploads)
        expect(new URL(upload.url).origin).toBe(
          new URL(stack.storage.kind === "s3rver" ? stack.storage.url : "").origin,
        );

      const before = await json(await fetch(`${api}${created.statusUrl}`), jobViewSchema);
      expect(before).toMatchObject({ status: "queued", images: { awaiting_upload: 3, total: 3 } });

      const tiff = await sharp(path.join(TRAIN_IMAGES, `${SHSY5Y_IMAGE}.png`))
        .toColourspace("grey16")
        .tiff({ compression: "lzw" })
        .toBuffer();
      const bodies = [
        await readFile(path.join(TRAIN_IMAGES, `${CORT_IMAGE}.png`)),
        tiff,
        Buffer.from("this is not an image"),
      ];
      for (const [i, upload] of created.uploads.entries()) {
        const put = await fetch(upload.url, { method: "PUT", headers: upload.headers, body: bodies[i] });
        expect(put.status, await put.text()).toBe(200);
      }

      const view = await finishedJob(api, created.jobId);
      expect(view.status).toBe("failed");
      expect(view.images).toMatchObject({ succeeded: 2, failed: 1, total: 3 });
      expect(view.error?.failedFiles).toEqual(["broken.png"]);
      const [cort, shsy5y, broken] = view.files;
      expect(broken).toMatchObject({ state: "failed", error: { code: "invalid_image", retryable: false } });
      expect(cort).toMatchObject({ state: "succeeded", imageId: CORT_IMAGE, width: 704, height: 520, tiles: 1 });
      expect(shsy5y).toMatchObject({
        state: "succeeded",
        imageId: SHSY5Y_IMAGE,
        fileName: `plate 1/${SHSY5Y_IMAGE}.tif`,
      });
      expect(cort!.cells).toBeGreaterThan(0);
      expect(view.cells).toBe(cort!.cells! + shsy5y!.cells!);
      expect(view.compute.endpointSeconds).toBeGreaterThan(0);
      expect(view.compute.functionSeconds).toBeGreaterThanOrEqual(view.compute.endpointSeconds);
      expect(view.compute.estimatedCostUsd).toBeGreaterThan(0);

      // Each format of one image: a redirect to a presigned S3 link, which fetch follows.
      const result = async (link: string) => {
        const response = await fetch(`${api}${link}`);
        expect(response.status, await response.clone().text()).toBe(200);
        expect(response.redirected).toBe(true);
        return Buffer.from(await response.arrayBuffer());
      };
      const links = shsy5y!.results!;
      const instances = instancesDocumentSchema.parse(JSON.parse((await result(links.json!)).toString()));
      expect(instances.instances).toHaveLength(shsy5y!.cells!);
      const submission = parseSubmissionCsv(await result(links.kaggle!));
      expect(submission.get(SHSY5Y_IMAGE)?.annotations).toHaveLength(shsy5y!.cells!);
      const coco = JSON.parse((await result(links.coco!)).toString()) as {
        annotations: { segmentation: { size: [number, number]; counts: string } }[];
      };
      const first = instances.instances[0]!;
      expect(maskArea(decodeCocoRle(coco.annotations[0]!.segmentation))).toBe(
        maskArea(decodeKaggleRle(first.rle, 704, 520)),
      );
      const labels = await sharp(await result(links.labels!))
        .toColourspace("grey16")
        .raw({ depth: "ushort" })
        .toBuffer({ resolveWithObject: true });
      expect(labels.info).toMatchObject({ width: 704, height: 520, channels: 1 });
      expect(
        new Uint16Array(labels.data.buffer, labels.data.byteOffset, labels.data.length / 2).reduce(
          (a, b) => Math.max(a, b),
          0,
        ),
      ).toBe(shsy5y!.cells);
      expect(await sharp(await result(links.overlay!)).metadata()).toMatchObject({
        width: 704,
        height: 520,
        format: "png",
      });

      // The whole job as one Kaggle CSV: both images' cells, the failed image absent.
      const merged = parseSubmissionCsv(await result(view.results.kaggle));
      expect([...merged.keys()].sort()).toEqual([CORT_IMAGE, SHSY5Y_IMAGE].sort());
      expect(merged.get(CORT_IMAGE)?.annotations).toHaveLength(cort!.cells!);

      // Measurements: the job's in one CSV (streamed to the bucket), a summary row per image, the outlines.
      const rows = (await result(view.results.measurements)).toString().trimEnd().split("\n");
      const columns = rows[0]!.split(",");
      const cells = rows
        .slice(1)
        .map((row) => Object.fromEntries(row.split(",").map((value, i) => [columns[i], value])));
      expect(cells.filter((cell) => cell.image_id === SHSY5Y_IMAGE).map((cell) => Number(cell.cell_id))).toEqual(
        instances.instances.map((cell) => cell.id),
      );
      expect(cells).toHaveLength(cort!.cells! + shsy5y!.cells!);
      expect(cells.every((cell) => cell.pixel_size_um === "0.65" && Number(cell.area_um2) > 0)).toBe(true);
      const summary = (await result(view.results.summary)).toString().trimEnd().split("\n");
      expect(summary).toHaveLength(3);
      expect(summary[2]).toMatch(
        new RegExp(`^${SHSY5Y_IMAGE},${SHSY5Y_IMAGE}\\.tif,704,520,0\\.65,${shsy5y!.cellType},${shsy5y!.cells},`),
      );
      const outlines = JSON.parse((await result(links.geojson!)).toString()) as {
        features: { properties: { cell_id: number; objectType: string } }[];
      };
      expect(outlines.features.map((feature) => feature.properties.cell_id)).toEqual(
        instances.instances.map((cell) => cell.id),
      );
    },
  );

  it("treats the same bytes uploaded again as a duplicate: the run is not redone", async () => {
    const api = stack.apiUrl;
    const created = await json(
      await fetch(`${api}/v1/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ filename: "again.png" }),
      }),
      createJobResponseSchema,
    );
    const png = await sharp(path.join(TRAIN_IMAGES, `${CORT_IMAGE}.png`))
      .extract({ left: 0, top: 0, width: 352, height: 260 })
      .png()
      .toBuffer();
    expect((await fetch(created.uploadUrl!, { method: "PUT", body: png })).status).toBe(200);
    const first = (await finishedJob(api, created.jobId)).files[0]!;
    expect(first.state).toBe("succeeded");

    expect((await fetch(created.uploadUrl!, { method: "PUT", body: png })).status).toBe(200);
    await vi.waitFor(() => expect(stack.pending()).toBe(0), { timeout: 60_000 });
    await stack.idle();
    const second = (await finishedJob(api, created.jobId)).files[0]!;
    expect(second).toMatchObject({
      state: "succeeded",
      cells: first.cells,
      updatedAt: first.updatedAt,
      timings: first.timings,
    });
  });

  it("segments a small image synchronously, and refuses images beyond the synchronous limits", async () => {
    const api = stack.apiUrl;
    const png = await readFile(path.join(TRAIN_IMAGES, `${CORT_IMAGE}.png`));
    const answer = await fetch(`${api}/v1/segment?id=${CORT_IMAGE}`, {
      method: "POST",
      headers: { "content-type": "image/png" },
      body: png,
    });
    const document = instancesDocumentSchema.parse(await answer.json());
    expect(document).toMatchObject({ imageId: CORT_IMAGE, width: 704, height: 520 });
    expect(document.instances.length).toBeGreaterThan(0);

    const csv = await fetch(`${api}/v1/segment?id=${CORT_IMAGE}&format=kaggle`, {
      method: "POST",
      headers: { "content-type": "image/png" },
      body: png,
    });
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(parseSubmissionCsv(await csv.text()).get(CORT_IMAGE)?.annotations).toHaveLength(document.instances.length);

    const segmentAs = (query: string) =>
      fetch(`${api}/v1/segment?id=${CORT_IMAGE}&${query}`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: png,
      });
    const measurements = await segmentAs("format=measurements&pixelSizeUm=0.5");
    expect(measurements.headers.get("content-type")).toMatch(/^text\/csv/);
    const [header, ...rows] = (await measurements.text()).trimEnd().split("\n");
    expect(`${header}\n`).toBe(MEASUREMENTS_CSV_HEADER);
    expect(rows).toHaveLength(document.instances.length);
    const columns = header!.split(",");
    const cell = (row: string, column: string) => Number(row.split(",")[columns.indexOf(column)]);
    expect(rows.map((row) => cell(row, "cell_id"))).toEqual(document.instances.map((instance) => instance.id));
    expect(rows.map((row) => cell(row, "area_px"))).toEqual(document.instances.map((instance) => instance.area));
    for (const row of rows) expect(cell(row, "area_um2")).toBeCloseTo(cell(row, "area_px") * 0.25, 3);

    const summary = await (await segmentAs("format=summary")).text();
    const [summaryHeader, summaryRow] = summary.trimEnd().split("\n");
    expect(`${summaryHeader}\n`).toBe(SUMMARY_CSV_HEADER);
    const summaryColumns = summaryHeader!.split(",");
    expect(Number(summaryRow!.split(",")[summaryColumns.indexOf("cell_count")])).toBe(document.instances.length);

    const outlines = await segmentAs("format=geojson");
    expect(outlines.headers.get("content-type")).toBe("application/geo+json");
    const geojson = (await outlines.json()) as OutlinesDocument;
    expect(geojson.type).toBe("FeatureCollection");
    expect(geojson.features.map((feature) => feature.properties.cell_id)).toEqual(
      document.instances.map((instance) => instance.id),
    );

    const badPixelSize = await segmentAs("format=measurements&pixelSizeUm=-1");
    expect(badPixelSize.status).toBe(400);

    const huge = await fetch(`${api}/v1/segment`, {
      method: "POST",
      headers: { "content-type": "image/png" },
      body: pngClaiming(20_000, 20_000),
    });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: { code: "image_too_large" } });
  });
});

describe("npm start: a folder as the bucket, Ctrl-C", () => {
  let started: LocalService | undefined;
  let dataDirectory: string;

  beforeEach(async () => {
    dataDirectory = await mkdtemp(path.join(tmpdir(), "cellseg-npm-start-"));
  });

  afterEach(async () => {
    if (started && started.child.exitCode === null) started.child.kill("SIGKILL");
    await rm(dataDirectory, { recursive: true, force: true });
  });

  it("segments an image dropped into the input folder, then stops everything cleanly on SIGINT", async () => {
    started = await startLocalService(dataDirectory);
    const { child, ready, exited, output } = started;

    const job = path.join(ready.storage.inputDirectory, "dropped");
    await mkdir(job, { recursive: true });
    await copyFile(path.join(TRAIN_IMAGES, `${CORT_IMAGE}.png`), path.join(job, `${CORT_IMAGE}.png`));
    const view = await finishedJob(ready.apiUrl, "dropped");
    expect(view).toMatchObject({ status: "succeeded", images: { succeeded: 1, total: 1 } });
    const status = jobStatusSchema.parse(
      JSON.parse(
        await readFile(
          path.join(dataDirectory, "cellseg", "output", "dropped", `${CORT_IMAGE}.png`, "status.json"),
          "utf8",
        ),
      ),
    );
    expect(status.status).toBe("succeeded");

    child.kill("SIGINT");
    expect(await exited, output.join("\n")).toBe(0);
    expect(output.join("\n")).toContain("cellseg: stopped");
    // The model server it started went with it.
    await expect(fetch(`${ready.modelServerUrl}/ping`)).rejects.toThrow();
  });

  it("starts its model server with the stack's own environment, not only this process's", async () => {
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
      { ...process.env, CELLSEG_PROFILES: "fast", CELLSEG_THREADS: "1" },
    );
    try {
      const info = (await (await fetch(`${stack.modelServerUrl}/info`)).json()) as { profiles: string[] };
      expect(info.profiles).toEqual(["fast"]);
    } finally {
      await stack.stop();
    }
  }, 300_000);

  it("stops with exit code 1, saying why, when its model server dies", async () => {
    started = await startLocalService(dataDirectory);
    const { ready, exited, output } = started;

    process.kill(ready.modelServerPid, "SIGKILL");

    expect(await exited, output.join("\n")).toBe(1);
    expect(output.join("\n")).toMatch(/the model server exited unexpectedly \(SIGKILL\)/);
    await expect(fetch(`${ready.apiUrl}/health`)).rejects.toThrow();
  });
});
