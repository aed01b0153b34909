import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { jobViewSchema } from "../../../../core/schemas/api";
import { jobKeys, statusKey } from "../../../../core/schemas/object-keys";
import { JobNotFoundError } from "../../../../functions/jobs/errors";
import {
  imageState,
  readJob,
  readJobRecords,
  resultLinks,
  summarizeJob,
  type ImageRecord,
} from "../../../../functions/jobs/job-view";
import {
  failedStatus,
  md5,
  PRICING,
  queuedStatus,
  runningStatus,
  storeFailedImage,
  storeSucceededImage,
  storeUpload,
  succeededStatus,
  tempBucket,
  jobsContext,
  uploadInfo,
  type TempBucket,
} from "./status-builders";

const JOB = "job-1";

/** A record of `fileName` uploaded, with a status document about exactly that upload. */
function record(
  fileName: string,
  state: "awaiting_upload" | "uploaded" | "queued" | "running" | "succeeded" | "failed",
): ImageRecord {
  if (state === "awaiting_upload") return { fileName };
  const upload = uploadInfo(JOB, fileName);
  const target = { jobId: JOB, fileName, etag: upload.etag };
  if (state === "uploaded") return { fileName, upload };
  const status = { queued: queuedStatus, running: runningStatus, succeeded: succeededStatus, failed: failedStatus }[
    state
  ](target);
  return { fileName, upload, status };
}

describe("imageState", () => {
  it.each([
    ["awaiting_upload", "awaiting_upload"],
    ["uploaded", "queued"],
    ["queued", "queued"],
    ["running", "running"],
    ["succeeded", "succeeded"],
    ["failed", "failed"],
  ] as const)("reports an image that is %s as %s", (given, expected) => {
    expect(imageState(record("a.png", given))).toBe(expected);
  });

  it("counts a status document about an older upload (another etag) as queued", () => {
    // Prepare: the document was written for the first upload; the file was then uploaded again.
    const upload = uploadInfo(JOB, "a.png", "second upload");
    const status = succeededStatus({ jobId: JOB, fileName: "a.png", etag: md5("first upload") });

    // Act & Assess
    expect(imageState({ fileName: "a.png", upload, status })).toBe("queued");
  });

  it("compares version ids when both the document and the upload have one, whatever the etags say", () => {
    // Prepare
    const body = "same bytes";
    const status = succeededStatus({ jobId: JOB, fileName: "a.png", etag: md5(body), versionId: "v1" });

    // Act & Assess
    expect(imageState({ fileName: "a.png", upload: uploadInfo(JOB, "a.png", body, "v2"), status })).toBe("queued");
    expect(imageState({ fileName: "a.png", upload: uploadInfo(JOB, "a.png", "other bytes", "v1"), status })).toBe(
      "succeeded",
    );
  });

  it("trusts a document that names no etag, and one whose upload is gone", () => {
    // Prepare
    const status = runningStatus({ jobId: JOB, fileName: "a.png" });

    // Act & Assess
    expect(imageState({ fileName: "a.png", upload: uploadInfo(JOB, "a.png", "anything"), status })).toBe("running");
    expect(
      imageState({ fileName: "a.png", status: failedStatus({ jobId: JOB, fileName: "a.png", etag: md5("x") }) }),
    ).toBe("failed");
  });
});

describe("summarizeJob", () => {
  it("counts every image state and gives each image its state", () => {
    // Prepare
    const records = [
      record("a.png", "awaiting_upload"),
      record("b.png", "uploaded"),
      record("c.png", "queued"),
      record("d.png", "running"),
      record("e.png", "succeeded"),
      record("f.png", "failed"),
    ];

    // Act
    const view = summarizeJob(JOB, undefined, records, PRICING);

    // Assess
    expect(jobViewSchema.safeParse(view).success).toBe(true);
    expect(view.images).toEqual({ awaiting_upload: 1, queued: 2, running: 1, succeeded: 1, failed: 1, total: 6 });
    expect(view.files.map((file) => file.state)).toEqual([
      "awaiting_upload",
      "queued",
      "queued",
      "running",
      "succeeded",
      "failed",
    ]);
    expect(view.status).toBe("running");
    expect(view.createdAt).toBeUndefined();
  });

  it.each([
    ["queued while no image has started", ["awaiting_upload", "uploaded", "queued"], "queued"],
    ["running while one image runs", ["queued", "running"], "running"],
    ["running while some images have finished and others wait", ["succeeded", "awaiting_upload"], "running"],
    ["succeeded when every image succeeded", ["succeeded", "succeeded"], "succeeded"],
    ["failed when every image finished and one failed", ["succeeded", "failed"], "failed"],
    ["failed when every image failed", ["failed", "failed"], "failed"],
  ] as const)("is %s", (_, states, expected) => {
    // Prepare
    const records = states.map((state, i) => record(`img-${i}.png`, state));

    // Act
    const view = summarizeJob(JOB, undefined, records, PRICING);

    // Assess
    expect(view.status).toBe(expected);
  });

  it("is queued, with nothing counted, for a job without images", () => {
    const view = summarizeJob(JOB, "2025-01-01T00:00:00.000Z", [], PRICING);

    expect(view.status).toBe("queued");
    expect(view.images.total).toBe(0);
    expect(view.createdAt).toBe("2025-01-01T00:00:00.000Z");
  });

  it("lists the failed files, and only them, in the job's error", () => {
    // Prepare
    const records = [record("ok.png", "succeeded"), record("plate/bad-1.png", "failed"), record("bad-2.tif", "failed")];

    // Act
    const view = summarizeJob(JOB, undefined, records, PRICING);

    // Assess
    expect(view.status).toBe("failed");
    expect(view.error?.failedFiles).toEqual(["plate/bad-1.png", "bad-2.tif"]);
    expect(view.error?.message).toMatch(/^2 of 3 images failed/);
    expect(view.files[1]!.error).toEqual({
      code: "invalid_image",
      message: "the bytes are not an image",
      retryable: false,
    });
  });

  it("has no error while no image failed", () => {
    const view = summarizeJob(JOB, undefined, [record("a.png", "succeeded")], PRICING);

    expect(view.error).toBeUndefined();
  });

  it("sums cells per type over the succeeded images only", () => {
    // Prepare
    const a = uploadInfo(JOB, "a.png");
    const b = uploadInfo(JOB, "b.png");
    const stale = uploadInfo(JOB, "c.png", "new bytes");
    const records: ImageRecord[] = [
      {
        fileName: "a.png",
        upload: a,
        status: succeededStatus(
          { jobId: JOB, fileName: "a.png", etag: a.etag },
          { cellsPerType: { astro: 3, cort: 1 } },
        ),
      },
      {
        fileName: "b.png",
        upload: b,
        status: succeededStatus(
          { jobId: JOB, fileName: "b.png", etag: b.etag },
          { cellsPerType: { astro: 2, shsy5y: 5 } },
        ),
      },
      // Succeeded for an older upload: not counted.
      {
        fileName: "c.png",
        upload: stale,
        status: succeededStatus({ jobId: JOB, fileName: "c.png", etag: md5("old") }, { cellsPerType: { cort: 100 } }),
      },
    ];

    // Act
    const view = summarizeJob(JOB, undefined, records, PRICING);

    // Assess
    expect(view.cells).toBe(11);
    expect(view.cellsPerType).toEqual({ astro: 5, cort: 1, shsy5y: 5 });
    expect(view.files[0]).toMatchObject({
      cells: 4,
      cellsPerType: { astro: 3, cort: 1 },
      cellType: "astro",
      width: 704,
      height: 520,
      tiles: 1,
      profile: "fast",
    });
    expect(view.files[2]).toEqual({ fileName: "c.png", imageId: "c", state: "queued" });
  });

  it("adds up compute time and prices it from the succeeded images' timings", () => {
    // Prepare: 1.5 s + 2.5 s of function time, 0.9 s + 2.7 s of endpoint inference.
    const a = uploadInfo(JOB, "a.png");
    const b = uploadInfo(JOB, "b.png");
    const records: ImageRecord[] = [
      {
        fileName: "a.png",
        upload: a,
        status: succeededStatus(
          { jobId: JOB, fileName: "a.png", etag: a.etag },
          { timings: { totalMs: 1500, inferenceMs: 900 } },
        ),
      },
      {
        fileName: "b.png",
        upload: b,
        status: succeededStatus(
          { jobId: JOB, fileName: "b.png", etag: b.etag },
          { timings: { totalMs: 2500, inferenceMs: 2700 } },
        ),
      },
      record("c.png", "failed"),
      record("d.png", "running"),
    ];

    // Act
    const { compute } = summarizeJob(JOB, undefined, records, { endpointUsdPerHour: 3.6, functionUsdPerSecond: 0.001 });

    // Assess: 3.6 s x $3.6/h = $0.0036; 4 s x $0.001/s = $0.004.
    expect(compute.functionSeconds).toBe(4);
    expect(compute.endpointSeconds).toBe(3.6);
    expect(compute.estimatedCostUsd).toBeCloseTo(0.0076, 10);
    expect(compute.pricing).toEqual({ endpointUsdPerHour: 3.6, functionUsdPerSecond: 0.001 });
    expect(compute.basis).toMatch(/hourly price/);
  });

  it("costs nothing while no image succeeded", () => {
    const { compute } = summarizeJob(JOB, undefined, [record("a.png", "running")], PRICING);

    expect(compute).toMatchObject({ functionSeconds: 0, endpointSeconds: 0, estimatedCostUsd: 0 });
  });

  it("gives result links to succeeded images only", () => {
    // Prepare
    const records = [
      record("plate 1/A01.tif", "succeeded"),
      record("b.png", "failed"),
      record("c.png", "running"),
      record("d.png", "uploaded"),
    ];

    // Act
    const view = summarizeJob(JOB, undefined, records, PRICING);

    // Assess
    expect(view.files[0]!.results).toEqual(resultLinks(JOB, "plate 1/A01.tif"));
    expect(view.files[0]!.results?.coco).toBe("/v1/jobs/job-1/result?format=coco&file=plate%201%2FA01.tif");
    expect(Object.keys(view.files[0]!.results ?? {}).sort()).toEqual([
      "coco",
      "geojson",
      "json",
      "kaggle",
      "labels",
      "measurements",
      "overlay",
      "preview",
      "summary",
    ]);
    expect(view.files.slice(1).map((file) => file.results)).toEqual([undefined, undefined, undefined]);
    expect(view.results).toEqual({
      kaggle: "/v1/jobs/job-1/result?format=kaggle",
      measurements: "/v1/jobs/job-1/result?format=measurements",
      summary: "/v1/jobs/job-1/result?format=summary",
    });
  });

  it("derives each image id from the file's own name, without folders or extension", () => {
    // Prepare
    const records = [
      record("plate/A01.tif", "awaiting_upload"),
      record("plate/row b/B02.final.png", "uploaded"),
      record("noext", "awaiting_upload"),
    ];

    // Act
    const view = summarizeJob(JOB, undefined, records, PRICING);

    // Assess
    expect(view.files.map((file) => file.imageId)).toEqual(["A01", "B02.final", "noext"]);
  });

  it("gives running and failed images their update time, and no result details", () => {
    const view = summarizeJob(JOB, undefined, [record("r.png", "running"), record("f.png", "failed")], PRICING);

    expect(view.files[0]).toEqual({
      fileName: "r.png",
      imageId: "r",
      state: "running",
      updatedAt: "2025-01-02T03:05:00.000Z",
    });
    expect(view.files[1]).toMatchObject({ state: "failed", updatedAt: "2025-01-02T03:06:00.000Z" });
    expect(view.files[1]!.cells).toBeUndefined();
  });
});

describe("readJobRecords and readJob", () => {
  let bucket: TempBucket;

  beforeEach(async () => {
    bucket = await tempBucket();
  });

  afterEach(async () => {
    await bucket.dispose();
  });

  it("finds a job made only of uploads (a folder dropped into the bucket)", async () => {
    // Prepare
    await storeUpload(bucket.storage, "dropped", "plate/A01.tif");
    await storeUpload(bucket.storage, "dropped", "plate/A02.tif");

    // Act
    const { manifest, records } = await readJobRecords("dropped", jobsContext(bucket.storage));

    // Assess
    expect(manifest).toBeUndefined();
    expect(records.map((r) => r.fileName)).toEqual(["plate/A01.tif", "plate/A02.tif"]);
    expect(records.every((r) => r.upload !== undefined && r.status === undefined)).toBe(true);
  });

  it("throws JobNotFoundError for a job with neither manifest nor uploads", async () => {
    // Prepare: another job whose id starts like this one's must not count.
    await storeUpload(bucket.storage, "job-10", "a.png");

    // Act & Assess
    await expect(readJobRecords("job-1", jobsContext(bucket.storage))).rejects.toBeInstanceOf(JobNotFoundError);
    await expect(readJob("job-1", jobsContext(bucket.storage))).rejects.toMatchObject({
      code: "job_not_found",
      jobId: "job-1",
    });
  });

  it("lists the manifest's files in its order, then other uploads in key order", async () => {
    // Prepare
    const manifest = {
      schemaVersion: 1,
      jobId: JOB,
      createdAt: "2025-01-01T00:00:00.000Z",
      files: ["b.png", "a.png", "never-uploaded.png"],
    };
    await bucket.storage.put(jobKeys(JOB).manifest, JSON.stringify(manifest));
    for (const file of ["z/d.png", "a.png", "c.png", "b.png"]) await storeUpload(bucket.storage, JOB, file);

    // Act
    const { manifest: read, records } = await readJobRecords(JOB, jobsContext(bucket.storage));

    // Assess
    expect(read).toEqual(manifest);
    expect(records.map((r) => r.fileName)).toEqual(["b.png", "a.png", "never-uploaded.png", "c.png", "z/d.png"]);
    expect(records[2]!.upload).toBeUndefined();
    expect(records[0]!.upload?.key).toBe("input/job-1/b.png");
  });

  it("tolerates a damaged status document: the image counts as not started", async () => {
    // Prepare
    await storeUpload(bucket.storage, JOB, "a.png");
    await storeUpload(bucket.storage, JOB, "b.png");
    await bucket.storage.put(statusKey({ jobId: JOB, fileName: "a.png" }), "{not json");
    await bucket.storage.put(statusKey({ jobId: JOB, fileName: "b.png" }), JSON.stringify({ status: "succeeded" }));

    // Act
    const { records } = await readJobRecords(JOB, jobsContext(bucket.storage));
    const view = await readJob(JOB, jobsContext(bucket.storage));

    // Assess
    expect(records.map((r) => r.status)).toEqual([undefined, undefined]);
    expect(view.images.queued).toBe(2);
  });

  it("reads a whole job: manifest date, states from the stored documents, schema-valid", async () => {
    // Prepare
    const manifest = {
      schemaVersion: 1,
      jobId: JOB,
      createdAt: "2025-01-01T00:00:00.000Z",
      files: ["a.png", "b.png", "c.png"],
    };
    await bucket.storage.put(jobKeys(JOB).manifest, JSON.stringify(manifest));
    await storeSucceededImage(bucket.storage, JOB, "a.png", { cellsPerType: { cort: 4 } });
    await storeFailedImage(bucket.storage, JOB, "b.png");

    // Act
    const view = await readJob(JOB, jobsContext(bucket.storage));

    // Assess
    expect(jobViewSchema.parse(view)).toEqual(view);
    expect(view).toMatchObject({
      jobId: JOB,
      status: "running",
      createdAt: "2025-01-01T00:00:00.000Z",
      cells: 4,
      cellsPerType: { cort: 4 },
    });
    expect(view.files.map((file) => file.state)).toEqual(["succeeded", "failed", "awaiting_upload"]);
  });

  // QUESTIONABLE (reported): readJobRecords counts every object under input/<jobId>/ as an image, hidden
  // ones included, while the local input watcher never reports hidden files to the pipeline. A folder
  // copied from macOS with a .DS_Store is a job that never finishes locally (and whose merged CSV is a 409).
  it("leaves hidden uploads (.DS_Store) out of the job, as the pipeline and the local watcher do", async () => {
    // Prepare
    await storeSucceededImage(bucket.storage, JOB, "a.png");
    await bucket.storage.put(`input/${JOB}/.DS_Store`, "finder metadata");

    // Act
    const view = await readJob(JOB, jobsContext(bucket.storage));

    // Assess
    expect(view.files.map((file) => [file.fileName, file.state])).toEqual([["a.png", "succeeded"]]);
    expect(view.status).toBe("succeeded");
  });

  it("sees a re-upload as queued although the old run's document says succeeded", async () => {
    // Prepare
    await storeSucceededImage(bucket.storage, JOB, "a.png", { body: "first" });
    await storeUpload(bucket.storage, JOB, "a.png", "second");

    // Act
    const view = await readJob(JOB, jobsContext(bucket.storage));

    // Assess
    expect(view.files[0]!.state).toBe("queued");
    expect(view.status).toBe("queued");
  });
});
