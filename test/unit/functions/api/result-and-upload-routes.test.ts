import { rm } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SUBMISSION_CSV_HEADER } from "../../../../core/kaggle/csv";
import { createJobResponseSchema, jobViewSchema, resultLinkSchema } from "../../../../core/schemas/api";
import { jobKeys, statusKey } from "../../../../core/schemas/object-keys";
import { errorOf, json, testApi, type TestApi } from "./api-fixture";
import {
  FixedObjectLinks,
  runningStatus,
  storeFailedImage,
  storeStatus,
  storeSucceededImage,
  storeUpload,
  submissionRows,
} from "../jobs/status-builders";

const JOB = "job-1";

describe("GET /v1/jobs/{jobId}/result", () => {
  let api: TestApi;

  afterEach(async () => {
    await api.dispose();
    expect(api.endpoint.calls).toBe(0);
  });

  it("serves a result from storage with its content type and a download name when links give no URL", async () => {
    // Prepare
    api = await testApi();
    const status = await storeSucceededImage(api.bucket.storage, JOB, "plate/A01.tif");
    await storeSucceededImage(api.bucket.storage, JOB, "plate/A02.tif");

    // Act
    const response = await api.app.request(
      `/v1/jobs/${JOB}/result?format=coco&file=${encodeURIComponent("plate/A01.tif")}`,
    );

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("content-disposition")).toBe(
      `attachment; filename="A01.coco.json"; filename*=UTF-8''A01.coco.json`,
    );
    expect(await response.text()).toBe(
      Buffer.from((await api.bucket.storage.get(status.results.coco))!.body).toString("utf8"),
    );
  });

  it("serves PNG results byte for byte", async () => {
    // Prepare
    api = await testApi();
    const status = await storeSucceededImage(api.bucket.storage, JOB, "a.png");

    // Act: a one-image job needs no file.
    const response = await api.app.request(`/v1/jobs/${JOB}/result?format=overlay`);

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/png");
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(
      new Uint8Array((await api.bucket.storage.get(status.results.overlay))!.body),
    );
  });

  it("answers json by default", async () => {
    // Prepare
    api = await testApi();
    const status = await storeSucceededImage(api.bucket.storage, JOB, "a.png");

    // Act
    const response = await api.app.request(`/v1/jobs/${JOB}/result`);

    // Assess
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ imageId: "a", cells: status.cells });
  });

  it("serves the job's merged Kaggle CSV", async () => {
    // Prepare
    api = await testApi();
    await storeSucceededImage(api.bucket.storage, JOB, "a.png", { cellsPerType: { astro: 1 } });
    await storeSucceededImage(api.bucket.storage, JOB, "b.png", { cellsPerType: { cort: 2 } });

    // Act
    const response = await api.app.request(`/v1/jobs/${JOB}/result?format=kaggle`);

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(response.headers.get("content-disposition")).toMatch(/^attachment; filename="job-1\.csv"/);
    expect(await response.text()).toBe(SUBMISSION_CSV_HEADER + submissionRows("a", 1) + submissionRows("b", 2));
  });

  it("redirects (302) to the link ObjectLinks gives, asking for it with the result's name, type and TTL", async () => {
    // Prepare
    const links = new FixedObjectLinks("https://results.example.com/signed?sig=abc");
    api = await testApi({ links });
    const status = await storeSucceededImage(api.bucket.storage, JOB, "a.png");

    // Act
    const response = await api.app.request(`/v1/jobs/${JOB}/result?format=labels&file=a.png`);

    // Assess
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("https://results.example.com/signed?sig=abc");
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(links.downloads).toEqual([
      {
        key: status.results.labels,
        options: { expiresInSeconds: 120, fileName: "a.labels.png", contentType: "image/png" },
      },
    ]);
  });

  it("answers where to fetch the result with as=link: the presigned link, which needs no credentials", async () => {
    // Prepare
    api = await testApi({ links: new FixedObjectLinks("https://results.example.com/signed?sig=abc") });
    await storeSucceededImage(api.bucket.storage, JOB, "a.png");

    // Act
    const response = await api.app.request(`/v1/jobs/${JOB}/result?format=labels&file=a.png&as=link`);

    // Assess
    expect(response.status).toBe(200);
    expect(resultLinkSchema.parse(await response.json())).toEqual({
      url: "https://results.example.com/signed?sig=abc",
      signed: true,
      fileName: "a.labels.png",
      contentType: "image/png",
    });
  });

  it("answers with as=link the API's own address of the bytes where storage gives no links", async () => {
    // Prepare
    api = await testApi();
    const status = await storeSucceededImage(api.bucket.storage, JOB, "plate/A01.tif");
    await storeSucceededImage(api.bucket.storage, JOB, "plate/A02.tif");

    // Act
    const response = await api.app.request(
      `/v1/jobs/${JOB}/result?format=coco&as=link&file=${encodeURIComponent("plate/A01.tif")}`,
    );
    const link = resultLinkSchema.parse(await response.json());
    const bytes = await api.app.request(link.url);

    // Assess
    expect(link).toMatchObject({ signed: false, fileName: "A01.coco.json", contentType: "application/json" });
    expect(link.url).toMatch(/^\/v1\/jobs\/job-1\/result\?/);
    expect(bytes.status).toBe(200);
    expect(await bytes.text()).toBe(
      Buffer.from((await api.bucket.storage.get(status.results.coco))!.body).toString("utf8"),
    );
  });

  it.each([
    ["an unknown format", "?format=tiff&file=a.png", "invalid_request"],
    ["an unknown query parameter", "?format=json&file=a.png&page=2", "invalid_request"],
    ["a file name with ..", `?file=${encodeURIComponent("../b.png")}`, "invalid_request"],
    ["a file name with a backslash", `?file=${encodeURIComponent("a\\b.png")}`, "invalid_request"],
    ["no file in a job of several images", "?format=coco", "file_required"],
  ])("answers 400 for %s", async (_, query, code) => {
    // Prepare
    api = await testApi();
    await storeSucceededImage(api.bucket.storage, JOB, "a.png");
    await storeSucceededImage(api.bucket.storage, JOB, "b.png");

    // Act
    const response = await api.app.request(`/v1/jobs/${JOB}/result${query}`);

    // Assess
    expect(response.status).toBe(400);
    expect((await errorOf(response)).code).toBe(code);
  });

  it("answers 404 job_not_found for an unknown job and 404 unknown_file for an unknown file", async () => {
    // Prepare
    api = await testApi();
    await storeSucceededImage(api.bucket.storage, JOB, "a.png");

    // Act
    const noJob = await api.app.request("/v1/jobs/job-2/result?format=json");
    const noFile = await api.app.request(`/v1/jobs/${JOB}/result?format=json&file=b.png`);

    // Assess
    expect(noJob.status).toBe(404);
    expect((await errorOf(noJob)).code).toBe("job_not_found");
    expect(noFile.status).toBe(404);
    expect(await errorOf(noFile)).toMatchObject({ code: "unknown_file", details: { files: ["a.png"] } });
  });

  it(
    "answers 409 result_not_ready for a running image and for the merged CSV meanwhile, " +
      "and 409 image_failed for a failed one",
    async () => {
      // Prepare
      api = await testApi();
      await storeFailedImage(api.bucket.storage, JOB, "bad.png");
      await storeStatus(api.bucket.storage, runningStatus(await storeUpload(api.bucket.storage, JOB, "busy.png")));

      // Act
      const running = await api.app.request(`/v1/jobs/${JOB}/result?file=busy.png`);
      const merged = await api.app.request(`/v1/jobs/${JOB}/result?format=kaggle`);
      const failed = await api.app.request(`/v1/jobs/${JOB}/result?file=bad.png`);

      // Assess
      expect([running.status, merged.status, failed.status]).toEqual([409, 409, 409]);
      expect((await errorOf(running)).code).toBe("result_not_ready");
      expect((await errorOf(merged)).code).toBe("result_not_ready");
      expect(await errorOf(failed)).toMatchObject({
        code: "image_failed",
        details: { fileName: "bad.png", error: { code: "invalid_image" } },
      });
    },
  );

  it("answers 500 internal, saying nothing of the missing object, when a succeeded run's file is gone", async () => {
    // Prepare
    api = await testApi();
    const status = await storeSucceededImage(api.bucket.storage, JOB, "a.png");
    await rm(path.join(api.bucket.root, ...status.results.coco.split("/")));

    // Act
    const response = await api.app.request(`/v1/jobs/${JOB}/result?format=coco`);

    // Assess
    expect(response.status).toBe(500);
    const error = await errorOf(response);
    expect(error).toEqual({ code: "internal", message: "the request failed unexpectedly; it has been logged" });
    const logged = api.logger.entries.find((entry) => entry.message === "request failed");
    expect(logged).toMatchObject({
      level: "error",
      fields: { status: 500, code: "internal", error: { message: expect.stringContaining(status.results.coco) } },
    });
  });
});

describe("PUT /v1/uploads/{token}", () => {
  let api: TestApi;

  afterEach(async () => {
    await api.dispose();
    expect(api.endpoint.calls).toBe(0);
  });

  async function createJob(files: string[]) {
    return createJobResponseSchema.parse(await (await api.app.request("/v1/jobs", json({ files }))).json());
  }

  it("stores the body at the token's input key; the job then counts the image as queued", async () => {
    // Prepare
    api = await testApi();
    const job = await createJob(["plate 1/A01.tif", "A02.tif"]);
    const bytes = new Uint8Array([0x49, 0x49, 0x2a, 0x00, 1, 2, 3]);

    // Act
    const response = await api.app.request(api.pathOf(job.uploads[0]!.url), {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
    });

    // Assess
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ key: `input/${job.jobId}/plate 1/A01.tif`, size: 7 });
    expect(new Uint8Array((await api.bucket.storage.get(`input/${job.jobId}/plate 1/A01.tif`))!.body)).toEqual(bytes);
    const view = jobViewSchema.parse(await (await api.app.request(job.statusUrl)).json());
    expect(view.files.map((file) => [file.fileName, file.state])).toEqual([
      ["plate 1/A01.tif", "queued"],
      ["A02.tif", "awaiting_upload"],
    ]);
    expect(view.status).toBe("queued");
    // The token is a credential: the request log names the route, not the token.
    const token = job.uploads[0]!.url.split("/").at(-1)!;
    expect(JSON.stringify(api.logger.entries)).not.toContain(token);
    expect(api.logger.entries).toContainEqual(
      expect.objectContaining({
        message: "request",
        fields: expect.objectContaining({ method: "PUT", path: "/v1/uploads/<token>" }),
      }),
    );
  });

  it("tells the stack of each stored upload, as S3 tells its queue, and of no refused one", async () => {
    // Prepare
    const stored: string[] = [];
    api = await testApi({ onUploadStored: async (key) => void stored.push(key) });
    const job = await createJob(["a.png", "b.png"]);

    // Act
    await api.app.request(api.pathOf(job.uploads[0]!.url), { method: "PUT", body: new Uint8Array([1, 2, 3]) });
    await api.app.request(api.pathOf(job.uploads[1]!.url), { method: "PUT", body: new Uint8Array() });

    // Assess
    expect(stored).toEqual([`input/${job.jobId}/a.png`]);
  });

  it("accepts a body without a content type", async () => {
    // Prepare
    api = await testApi();
    const job = await createJob(["a.png"]);

    // Act
    const response = await api.app.request(api.pathOf(job.uploads[0]!.url), {
      method: "PUT",
      body: new Uint8Array([1, 2]),
    });

    // Assess
    expect(response.status).toBe(200);
  });

  it.each([
    ["a forged token", "eyJrZXkiOiJpbnB1dC9qb2ItMS9hLnBuZyJ9.c2lnbmF0dXJl"],
    ["a malformed token", "not-a-token"],
  ])("answers 403 invalid_upload_token for %s and stores nothing", async (_, token) => {
    // Prepare
    api = await testApi();

    // Act
    const response = await api.app.request(`/v1/uploads/${token}`, { method: "PUT", body: new Uint8Array([1]) });

    // Assess
    expect(response.status).toBe(403);
    expect((await errorOf(response)).code).toBe("invalid_upload_token");
    expect(await api.bucket.storage.list("input/")).toEqual([]);
  });

  it("answers 403 for a token of another process's secret", async () => {
    // Prepare
    api = await testApi();
    const other = await testApi({ uploadSecret: new Uint8Array(32).fill(2) });
    const job = createJobResponseSchema.parse(
      await (await other.app.request("/v1/jobs", json({ filename: "a.png" }))).json(),
    );
    await other.dispose();

    // Act
    const response = await api.app.request(api.pathOf(job.uploadUrl!), { method: "PUT", body: new Uint8Array([1]) });

    // Assess
    expect(response.status).toBe(403);
  });

  it("answers 400 empty_body for an empty upload", async () => {
    // Prepare
    api = await testApi();
    const job = await createJob(["a.png"]);

    // Act
    const response = await api.app.request(api.pathOf(job.uploads[0]!.url), { method: "PUT", body: new Uint8Array(0) });

    // Assess
    expect(response.status).toBe(400);
    expect((await errorOf(response)).code).toBe("empty_body");
    expect(await api.bucket.storage.list("input/")).toEqual([]);
  });

  it("answers 413 for a body over the upload limit", async () => {
    // Prepare
    api = await testApi({ maxUploadBytes: 16 });
    const job = await createJob(["a.png"]);

    // Act
    const response = await api.app.request(api.pathOf(job.uploads[0]!.url), {
      method: "PUT",
      body: new Uint8Array(17),
    });

    // Assess
    expect(response.status).toBe(413);
    expect((await errorOf(response)).code).toBe("payload_too_large");
    expect(await api.bucket.storage.list("input/")).toEqual([]);
  });

  it("answers 413 for a body sent without Content-Length once it passes the limit, keeping nothing", async () => {
    // Prepare: a body that never ends, in 256-byte chunks.
    api = await testApi({ maxUploadBytes: 1024 });
    const job = await createJob(["a.png"]);
    const endless = new ReadableStream<Uint8Array>({ pull: (controller) => controller.enqueue(new Uint8Array(256)) });

    // Act
    const response = await api.app.request(api.pathOf(job.uploads[0]!.url), {
      method: "PUT",
      body: endless,
      duplex: "half",
    } as RequestInit);

    // Assess
    expect(response.status).toBe(413);
    expect((await errorOf(response)).code).toBe("payload_too_large");
    expect(await api.bucket.storage.list("input/")).toEqual([]);
  });

  it("passes a body sent without Content-Length to storage as it arrives, not once it has all arrived", async () => {
    // Prepare: 64 chunks of 1 KiB, counted as the route pulls them; storage notes how many had been pulled
    // when the first one reached it.
    api = await testApi({ maxUploadBytes: 1024 * 1024 });
    const job = await createJob(["a.png"]);
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => {
        if (pulled === 64) return controller.close();
        pulled++;
        controller.enqueue(new Uint8Array(1024).fill(pulled));
      },
    });
    let pulledAtFirstChunk: number | undefined;
    const putStream = api.bucket.storage.putStream.bind(api.bucket.storage);
    vi.spyOn(api.bucket.storage, "putStream").mockImplementation((key, chunks) =>
      putStream(
        key,
        (async function* () {
          for await (const chunk of chunks) {
            pulledAtFirstChunk ??= pulled;
            yield chunk;
          }
        })(),
      ),
    );

    // Act
    const response = await api.app.request(api.pathOf(job.uploads[0]!.url), {
      method: "PUT",
      body,
      duplex: "half",
    } as RequestInit);

    // Assess
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ size: 64 * 1024 });
    expect(pulledAtFirstChunk).toBeLessThan(8);
    expect((await api.bucket.storage.get(`input/${job.jobId}/a.png`))?.body.length).toBe(64 * 1024);
  });

  it("does not exist where uploads go to S3 (no upload deps)", async () => {
    // Prepare
    api = await testApi({ withoutUploads: true, links: new FixedObjectLinks() });

    // Act
    const response = await api.app.request("/v1/uploads/anything", { method: "PUT", body: new Uint8Array([1]) });

    // Assess
    expect(response.status).toBe(404);
    expect((await errorOf(response)).code).toBe("not_found");
  });

  it("never writes outside the job's input folder, whatever the token names", async () => {
    // Prepare: a validly signed token for the job's manifest key.
    api = await testApi();
    const job = await createJob(["a.png"]);
    const { url } = await api.uploadLinks.upload(jobKeys(job.jobId).manifest, 60);

    // Act
    const response = await api.app.request(api.pathOf(url), { method: "PUT", body: new Uint8Array([1]) });

    // Assess
    expect(response.status).toBe(403);
    expect(
      JSON.parse(Buffer.from((await api.bucket.storage.get(jobKeys(job.jobId).manifest))!.body).toString("utf8")).files,
    ).toEqual(["a.png"]);
    expect(await api.bucket.storage.get(statusKey({ jobId: job.jobId, fileName: "a.png" }))).toBeUndefined();
  });
});
