import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SUBMISSION_CSV_HEADER } from "../../../../core/kaggle/csv";
import { MEASUREMENTS_CSV_HEADER, SUMMARY_CSV_HEADER } from "../../../../core/outputs/measurements-csv";
import { jobKeys } from "../../../../core/schemas/object-keys";
import { JobNotFoundError, JobRequestError, ResultNotAvailableError } from "../../../../functions/jobs/errors";
import { jobResult } from "../../../../functions/jobs/job-results";
import {
  jobsContext,
  measurementRowsOf,
  runningStatus,
  storeFailedImage,
  storeStatus,
  storeSucceededImage,
  storeUpload,
  submissionRows,
  tempBucket,
  type TempBucket,
} from "./status-builders";

const JOB = "job-1";

describe("jobResult", () => {
  let bucket: TempBucket;

  beforeEach(async () => {
    bucket = await tempBucket();
  });

  afterEach(async () => {
    await bucket.dispose();
  });

  const context = () => jobsContext(bucket.storage);
  const text = async (key: string) => Buffer.from((await bucket.storage.get(key))!.body).toString("utf8");
  const storeManifest = (files: string[]) =>
    bucket.storage.put(
      jobKeys(JOB).manifest,
      JSON.stringify({ schemaVersion: 1, jobId: JOB, createdAt: "2025-01-01T00:00:00.000Z", files }),
    );

  describe("one image", () => {
    it.each([
      ["json", "instances", "application/json", "A01.instances.json"],
      ["kaggle", "submission", "text/csv; charset=utf-8", "A01.csv"],
      ["coco", "coco", "application/json", "A01.coco.json"],
      ["labels", "labels", "image/png", "A01.labels.png"],
      ["overlay", "overlay", "image/png", "A01.overlay.png"],
      ["preview", "preview", "image/png", "A01.preview.png"],
      ["measurements", "measurements", "text/csv; charset=utf-8", "A01.measurements.csv"],
      ["summary", "summary", "text/csv; charset=utf-8", "A01.summary.csv"],
      ["geojson", "outlines", "application/geo+json", "A01.geojson"],
    ] as const)("answers format=%s with the run's %s file", async (format, kind, contentType, fileName) => {
      // Prepare
      const status = await storeSucceededImage(bucket.storage, JOB, "plate/A01.tif");
      await storeSucceededImage(bucket.storage, JOB, "plate/A02.tif");

      // Act
      const result = await jobResult(JOB, { format, file: "plate/A01.tif" }, context());

      // Assess
      expect(result).toEqual({ key: status.results[kind], contentType, fileName });
      expect(result.key).toMatch(new RegExp(`^output/job-1/plate/A01\\.tif/runs/${status.runId}/`));
    });

    it("needs no file in a job of one image", async () => {
      // Prepare
      const status = await storeSucceededImage(bucket.storage, JOB, "only.png");

      // Act
      const result = await jobResult(JOB, { format: "coco" }, context());

      // Assess
      expect(result.key).toBe(status.results.coco);
    });

    it("asks for a file in a job of several images, except for the merged kaggle CSV", async () => {
      // Prepare
      await storeSucceededImage(bucket.storage, JOB, "a.png");
      await storeSucceededImage(bucket.storage, JOB, "b.png");

      // Act
      const error = await jobResult(JOB, { format: "json" }, context()).catch((e: unknown) => e);
      const merged = await jobResult(JOB, { format: "kaggle" }, context());

      // Assess
      expect(error).toBeInstanceOf(JobRequestError);
      expect(error).toMatchObject({ code: "file_required", details: { files: ["a.png", "b.png"] } });
      expect(merged.key).toMatch(/^jobs\/job-1\/results\/submission-[0-9a-f]{20}\.csv$/);
    });

    it("refuses a file the job does not hold with unknown_file", async () => {
      // Prepare
      await storeSucceededImage(bucket.storage, JOB, "a.png");

      // Act
      const error = await jobResult(JOB, { format: "json", file: "b.png" }, context()).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(JobRequestError);
      expect(error).toMatchObject({ code: "unknown_file", details: { files: ["a.png"] } });
    });

    it("throws JobNotFoundError for a job that does not exist", async () => {
      await expect(jobResult("nope", { format: "json" }, context())).rejects.toBeInstanceOf(JobNotFoundError);
    });

    it.each([
      ["awaiting its upload", async () => storeManifest(["a.png"]), "awaiting_upload"],
      ["queued", async () => void (await storeUpload(bucket.storage, JOB, "a.png")), "queued"],
      [
        "running",
        async () => storeStatus(bucket.storage, runningStatus(await storeUpload(bucket.storage, JOB, "a.png"))),
        "running",
      ],
    ])("answers result_not_ready for an image %s", async (_, prepare, state) => {
      // Prepare
      await prepare();

      // Act
      const error = await jobResult(JOB, { format: "json", file: "a.png" }, context()).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(ResultNotAvailableError);
      expect(error).toMatchObject({ code: "result_not_ready", details: { fileName: "a.png", state } });
    });

    it("answers image_failed, with the image's error, for an image that failed", async () => {
      // Prepare
      const status = await storeFailedImage(bucket.storage, JOB, "a.png");

      // Act
      const error = await jobResult(JOB, { format: "overlay", file: "a.png" }, context()).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(ResultNotAvailableError);
      expect(error).toMatchObject({ code: "image_failed", details: { fileName: "a.png", error: status.error } });
      expect((error as Error).message).toContain("the bytes are not an image");
    });

    it.each(["measurements", "summary", "geojson", "preview"] as const)(
      "answers result_not_in_run for %s of an image segmented by a version that did not write it",
      async (format) => {
        // Prepare
        await storeSucceededImage(bucket.storage, JOB, "a.png", { beforeMeasurements: true });

        // Act
        const error = await jobResult(JOB, { format, file: "a.png" }, context()).catch((e: unknown) => e);

        // Assess
        expect(error).toBeInstanceOf(ResultNotAvailableError);
        expect(error).toMatchObject({ code: "result_not_in_run", details: { fileName: "a.png" } });
      },
    );

    it("answers result_not_ready when the file was uploaded again after its run succeeded", async () => {
      // Prepare
      await storeSucceededImage(bucket.storage, JOB, "a.png", { body: "first" });
      await storeUpload(bucket.storage, JOB, "a.png", "second");

      // Act & Assess
      await expect(jobResult(JOB, { format: "json", file: "a.png" }, context())).rejects.toMatchObject({
        code: "result_not_ready",
      });
    });
  });

  describe("the merged Kaggle CSV", () => {
    it("holds one header and every succeeded image's rows in manifest order, failed images left out", async () => {
      // Prepare: manifest order differs from key order.
      await storeManifest(["c.png", "a.png", "b.png"]);
      await storeSucceededImage(bucket.storage, JOB, "c.png", { cellsPerType: { astro: 3 } });
      await storeSucceededImage(bucket.storage, JOB, "a.png", { cellsPerType: { cort: 1 } });
      await storeFailedImage(bucket.storage, JOB, "b.png");

      // Act
      const result = await jobResult(JOB, { format: "kaggle" }, context());

      // Assess
      expect(result).toMatchObject({ contentType: "text/csv; charset=utf-8", fileName: "job-1.csv" });
      expect(result.key).toMatch(/^jobs\/job-1\/results\/submission-[0-9a-f]{20}\.csv$/);
      expect(await text(result.key)).toBe(SUBMISSION_CSV_HEADER + submissionRows("c", 3) + submissionRows("a", 1));
    });

    it("is reused, not rewritten, when asked for again", async () => {
      // Prepare
      await storeSucceededImage(bucket.storage, JOB, "a.png");
      await storeSucceededImage(bucket.storage, JOB, "b.png");
      const first = await jobResult(JOB, { format: "kaggle" }, context());
      // A marker only survives if the second call does not write the object again.
      await bucket.storage.put(first.key, "marker\n");
      const before = await bucket.storage.head(first.key);

      // Act
      const second = await jobResult(JOB, { format: "kaggle" }, context());

      // Assess
      expect(second).toEqual(first);
      expect(await bucket.storage.head(second.key)).toEqual(before);
      expect(await text(second.key)).toBe("marker\n");
    });

    it("gets a new name once an image has a new run", async () => {
      // Prepare
      await storeSucceededImage(bucket.storage, JOB, "a.png", { body: "first" });
      await storeSucceededImage(bucket.storage, JOB, "b.png");
      const before = await jobResult(JOB, { format: "kaggle" }, context());

      // Act: a.png is uploaded again and its new run succeeds with other cells.
      await storeSucceededImage(bucket.storage, JOB, "a.png", { body: "second", cellsPerType: { shsy5y: 4 } });
      const after = await jobResult(JOB, { format: "kaggle" }, context());

      // Assess
      expect(after.key).not.toBe(before.key);
      expect(await text(after.key)).toBe(SUBMISSION_CSV_HEADER + submissionRows("a", 4) + submissionRows("b", 2));
      expect(await text(before.key)).toBe(SUBMISSION_CSV_HEADER + submissionRows("a", 2) + submissionRows("b", 2));
    });

    it("is a header alone when every image failed", async () => {
      // Prepare
      await storeFailedImage(bucket.storage, JOB, "a.png");

      // Act
      const result = await jobResult(JOB, { format: "kaggle" }, context());

      // Assess
      expect(await text(result.key)).toBe(SUBMISSION_CSV_HEADER);
    });

    it.each([
      ["an image awaits its upload", async () => storeManifest(["a.png", "b.png"])],
      ["an image is queued", async () => void (await storeUpload(bucket.storage, JOB, "b.png"))],
      [
        "an image is running",
        async () => storeStatus(bucket.storage, runningStatus(await storeUpload(bucket.storage, JOB, "b.png"))),
      ],
    ])("answers result_not_ready (409) while %s, and writes nothing", async (_, prepare) => {
      // Prepare
      await storeSucceededImage(bucket.storage, JOB, "a.png");
      await prepare();

      // Act
      const error = await jobResult(JOB, { format: "kaggle" }, context()).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(ResultNotAvailableError);
      expect(error).toMatchObject({ code: "result_not_ready", details: { pending: [{ fileName: "b.png" }] } });
      expect(await bucket.storage.list("jobs/job-1/results/")).toEqual([]);
    });

    it("is the image's own CSV when a file is named", async () => {
      // Prepare
      const status = await storeSucceededImage(bucket.storage, JOB, "a.png");
      await storeSucceededImage(bucket.storage, JOB, "b.png");

      // Act
      const result = await jobResult(JOB, { format: "kaggle", file: "a.png" }, context());

      // Assess
      expect(result).toEqual({
        key: status.results.submission,
        contentType: "text/csv; charset=utf-8",
        fileName: "a.csv",
      });
    });
  });

  describe.each([
    ["measurements", MEASUREMENTS_CSV_HEADER, measurementRowsOf],
    ["summary", SUMMARY_CSV_HEADER, (imageId: string, cells: number) => `${imageId},${imageId}.png,${cells}\n`],
  ] as const)("the job's %s CSV", (format, header, rows) => {
    it("holds one header and every succeeded image's rows in manifest order, failed images left out", async () => {
      // Prepare
      await storeManifest(["c.png", "a.png", "b.png"]);
      await storeSucceededImage(bucket.storage, JOB, "c.png", { cellsPerType: { astro: 3 } });
      await storeSucceededImage(bucket.storage, JOB, "a.png", { cellsPerType: { cort: 1 } });
      await storeFailedImage(bucket.storage, JOB, "b.png");

      // Act
      const result = await jobResult(JOB, { format }, context());

      // Assess
      expect(result).toMatchObject({ contentType: "text/csv; charset=utf-8", fileName: `job-1.${format}.csv` });
      expect(result.key).toMatch(new RegExp(`^jobs/job-1/results/${format}-[0-9a-f]{20}\\.csv$`));
      expect(await text(result.key)).toBe(header + rows("c", 3) + rows("a", 1));
    });

    it("streams a job of many images in order, reading ahead of the writer", async () => {
      // Prepare: more images than the merge reads at once.
      const names = Array.from({ length: 40 }, (_, i) => `img-${String(i).padStart(2, "0")}.png`);
      for (const name of names) await storeSucceededImage(bucket.storage, JOB, name, { cellsPerType: { shsy5y: 1 } });

      // Act
      const result = await jobResult(JOB, { format }, context());

      // Assess
      expect(await text(result.key)).toBe(header + names.map((name) => rows(name.replace(".png", ""), 1)).join(""));
    });

    it("answers result_not_in_run, naming the image, when one was segmented before measurements existed", async () => {
      // Prepare
      await storeSucceededImage(bucket.storage, JOB, "a.png");
      await storeSucceededImage(bucket.storage, JOB, "b.png", { beforeMeasurements: true });

      // Act
      const error = await jobResult(JOB, { format }, context()).catch((e: unknown) => e);

      // Assess
      expect(error).toMatchObject({ code: "result_not_in_run", details: { fileName: "b.png" } });
      expect(await bucket.storage.list("jobs/job-1/results/")).toEqual([]);
    });
  });
});
