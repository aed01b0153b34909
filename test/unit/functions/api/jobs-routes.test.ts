import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  apiErrorSchema,
  createJobResponseSchema,
  jobManifestSchema,
  jobViewSchema,
} from "../../../../core/schemas/api";
import { jobKeys } from "../../../../core/schemas/object-keys";
import { errorOf, json, testApi, type TestApi } from "./api-fixture";
import { storeSucceededImage, storeUpload } from "../jobs/status-builders";

// Every job route, without exception, answers without calling the model endpoint.
let api: TestApi;

beforeEach(async () => {
  api = await testApi();
});

afterEach(async () => {
  await api.dispose();
  expect(api.endpoint.calls).toBe(0);
});

describe("POST /v1/jobs", () => {
  it("creates a job: 201, one upload link per file, the manifest stored", async () => {
    // Act
    const response = await api.app.request("/v1/jobs", json({ files: ["plate-1/A01.tif", "plate-1/A02.tif"] }));

    // Assess
    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const job = createJobResponseSchema.parse(await response.json());
    expect(job.statusUrl).toBe(`/v1/jobs/${job.jobId}`);
    expect(job.uploadUrl).toBeUndefined();
    expect(job.uploads.map((upload) => [upload.fileName, upload.method])).toEqual([
      ["plate-1/A01.tif", "PUT"],
      ["plate-1/A02.tif", "PUT"],
    ]);
    expect(job.uploads.map((upload) => api.uploadLinks.verify(upload.url.split("/v1/uploads/")[1]!))).toEqual([
      `input/${job.jobId}/plate-1/A01.tif`,
      `input/${job.jobId}/plate-1/A02.tif`,
    ]);
    const manifest = jobManifestSchema.parse(
      JSON.parse(Buffer.from((await api.bucket.storage.get(jobKeys(job.jobId).manifest))!.body).toString("utf8")),
    );
    expect(manifest.files).toEqual(["plate-1/A01.tif", "plate-1/A02.tif"]);
  });

  it("keeps the job's pixel size in its manifest, for the pipeline's measurements", async () => {
    // Act
    const response = await api.app.request("/v1/jobs", json({ files: ["A01.tif"], pixelSizeUm: 0.65 }));

    // Assess
    expect(response.status).toBe(201);
    const job = createJobResponseSchema.parse(await response.json());
    const manifest = jobManifestSchema.parse(
      JSON.parse(Buffer.from((await api.bucket.storage.get(jobKeys(job.jobId).manifest))!.body).toString("utf8")),
    );
    expect(manifest.pixelSizeUm).toBe(0.65);
  });

  it("answers uploadUrl for the one-file shorthand", async () => {
    // Act
    const response = await api.app.request("/v1/jobs", json({ filename: "cells.PNG" }));

    // Assess
    expect(response.status).toBe(201);
    const job = createJobResponseSchema.parse(await response.json());
    expect(job.uploadUrl).toBe(job.uploads[0]!.url);
  });

  it.each([
    ["both filename and files", { filename: "a.png", files: ["b.png"] }, ""],
    ["neither filename nor files", {}, ""],
    ["duplicate file names", { files: ["a.png", "b.png", "a.png"] }, ""],
    ["a name that is not an image", { files: ["a.png", "notes.txt"] }, "files.1"],
    ["a name with a .. segment", { files: ["../escape.png"] }, "files.0"],
    ["a name with an empty segment", { filename: "plate//a.png" }, "filename"],
    // Names a folder cannot store: refused for every storage, so a job works the same on S3 and locally.
    ["a name with a backslash", { files: ["a\\..\\..\\b.png"] }, "files.0"],
    ["a Windows path", { filename: "C:\\x.png" }, "filename"],
    ["a folder name over 255 bytes", { files: [`${"é".repeat(128)}/a.png`] }, "files.0"],
    ["a file name that is also a folder of another", { files: ["a.png", "a.png/b.png"] }, ""],
    ["an unknown key", { files: ["a.png"], priority: "high" }, ""],
    ["an empty list", { files: [] }, "files"],
    ["a list of numbers", { files: [1, 2] }, "files.0"],
    ["a pixel size of 0", { files: ["a.png"], pixelSizeUm: 0 }, "pixelSizeUm"],
    [
      "a pixel size over 1 mm (nanometres given as micrometres)",
      { files: ["a.png"], pixelSizeUm: 650 * 1000 },
      "pixelSizeUm",
    ],
    ["a pixel size as text", { files: ["a.png"], pixelSizeUm: "0.65" }, "pixelSizeUm"],
  ])("refuses %s with 400 invalid_request and its issues", async (_, body, path) => {
    // Act
    const response = await api.app.request("/v1/jobs", json(body));

    // Assess
    expect(response.status).toBe(400);
    const error = await errorOf(response);
    expect(error.code).toBe("invalid_request");
    const issues = (error.details as { issues: { path: string; message: string }[] }).issues;
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.map((issue) => issue.path)).toContain(path);
    expect(await api.bucket.storage.list("jobs/")).toEqual([]);
  });

  it("names the rule a refused file name broke", async () => {
    const response = await api.app.request("/v1/jobs", json({ files: ["a.gif"] }));

    const error = await errorOf(response);
    expect(error.message).toMatch(/must end in one of \.png, \.tif, \.tiff, \.jpg, \.jpeg/);
  });

  it("refuses more files than the deployment allows with 400 too_many_files", async () => {
    // Act
    const response = await api.app.request(
      "/v1/jobs",
      json({ files: Array.from({ length: 6 }, (_, i) => `${i}.png`) }),
    );

    // Assess
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatchObject({ code: "too_many_files", details: { maxFilesPerJob: 5, files: 6 } });
  });

  it.each([["text/plain"], ["application/x-www-form-urlencoded"], ["image/png"]])(
    "refuses a %s body with 415",
    async (contentType) => {
      // Act
      const response = await api.app.request("/v1/jobs", {
        method: "POST",
        headers: { "content-type": contentType },
        body: JSON.stringify({ filename: "a.png" }),
      });

      // Assess
      expect(response.status).toBe(415);
      expect(apiErrorSchema.safeParse(await response.json()).success).toBe(true);
    },
  );

  it("refuses a JSON body without a content type with 415", async () => {
    const response = await api.app.request("/v1/jobs", { method: "POST", body: JSON.stringify({ filename: "a.png" }) });

    expect(response.status).toBe(415);
  });

  it("refuses malformed JSON with 400", async () => {
    // Act
    const response = await api.app.request("/v1/jobs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"filename": ',
    });

    // Assess
    expect(response.status).toBe(400);
    expect(apiErrorSchema.safeParse(await response.json()).success).toBe(true);
  });

  it("refuses a body over 8 MiB with 413 payload_too_large", async () => {
    // Prepare: a well-formed request, padded with white space past the limit.
    const body = JSON.stringify({ filename: "a.png" }) + " ".repeat(8 * 1024 * 1024);

    // Act
    const response = await api.app.request("/v1/jobs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });

    // Assess
    expect(response.status).toBe(413);
    expect(await errorOf(response)).toMatchObject({
      code: "payload_too_large",
      details: { maxBytes: 8 * 1024 * 1024 },
    });
  });

  it("refuses a declared length over 8 MiB with 413 before reading the body", async () => {
    const response = await api.app.request("/v1/jobs", {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(8 * 1024 * 1024 + 1) },
      body: JSON.stringify({ filename: "a.png" }),
    });

    expect(response.status).toBe(413);
  });
});

describe("GET /v1/jobs/{jobId}", () => {
  it("answers a job's view, valid under jobViewSchema", async () => {
    // Prepare
    const created = createJobResponseSchema.parse(
      await (await api.app.request("/v1/jobs", json({ files: ["a.png", "b.png"] }))).json(),
    );
    await storeSucceededImage(api.bucket.storage, created.jobId, "a.png", { cellsPerType: { shsy5y: 7 } });

    // Act
    const response = await api.app.request(created.statusUrl);

    // Assess
    expect(response.status).toBe(200);
    const view = jobViewSchema.parse(await response.json());
    expect(view).toMatchObject({
      jobId: created.jobId,
      status: "running",
      cells: 7,
      images: { succeeded: 1, awaiting_upload: 1, total: 2 },
    });
    expect(view.files[0]!.results?.json).toBe(`/v1/jobs/${created.jobId}/result?format=json&file=a.png`);
  });

  it("answers a job made of uploads alone", async () => {
    // Prepare
    await storeUpload(api.bucket.storage, "dropped-folder", "A01.tif");

    // Act
    const response = await api.app.request("/v1/jobs/dropped-folder");

    // Assess
    expect(response.status).toBe(200);
    expect(jobViewSchema.parse(await response.json())).toMatchObject({
      status: "queued",
      images: { queued: 1, total: 1 },
    });
  });

  it(
    "answers a job whatever its bucket holds: " + "a file the folder cannot name, an older manifest's refused names",
    async () => {
      // Prepare: a manifest written before backslashes were refused, and a file with one dropped by hand.
      const manifest = {
        schemaVersion: 1,
        jobId: "old-job",
        createdAt: new Date().toISOString(),
        files: ["good.png", "a\\b.png"],
      };
      await api.bucket.storage.put(jobKeys("old-job").manifest, JSON.stringify(manifest));
      await mkdir(path.join(api.bucket.root, "input", "old-job"), { recursive: true });
      await writeFile(path.join(api.bucket.root, "input", "old-job", "c\\d.png"), "bytes");
      await storeUpload(api.bucket.storage, "old-job", "good.png");

      // Act
      const response = await api.app.request("/v1/jobs/old-job");

      // Assess
      expect(api.logger.entries.filter((entry) => entry.level === "error")).toEqual([]);
      expect(response.status).toBe(200);
      expect(jobViewSchema.parse(await response.json()).files.map((file) => file.fileName)).toEqual(["good.png"]);
    },
  );

  it("answers 404 job_not_found for an unknown job", async () => {
    // Act
    const response = await api.app.request("/v1/jobs/no-such-job");

    // Assess
    expect(response.status).toBe(404);
    expect(await errorOf(response)).toMatchObject({ code: "job_not_found", message: "there is no job no-such-job" });
  });

  it.each([["-starts-with-dash"], ["has%20space"], ["a".repeat(129)]])(
    "answers 400 invalid_request for the malformed job id %s",
    async (jobId) => {
      // Act
      const response = await api.app.request(`/v1/jobs/${jobId}`);

      // Assess
      expect(response.status).toBe(400);
      expect((await errorOf(response)).code).toBe("invalid_request");
    },
  );
});
