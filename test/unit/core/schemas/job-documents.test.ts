import { describe, expect, it } from "vitest";
import { jobStatusSchema } from "../../../../core/schemas/job-documents";

describe("jobStatusSchema", () => {
  const base = {
    schemaVersion: 1,
    jobId: "job-1",
    fileName: "a.png",
    imageId: "a",
    source: { bucket: "in", key: "input/job-1/a.png" },
    updatedAt: "2026-01-15T10:00:00.000Z",
  };

  it("accepts a queued job written by the API before the upload", () => {
    expect(jobStatusSchema.parse({ ...base, status: "queued", createdAt: "2026-01-15T10:00:00.000Z" }).status).toBe(
      "queued",
    );
  });

  it("requires the error of a failed job and the results of a succeeded one", () => {
    const run = {
      ...base,
      runId: "0123456789abcdef0123",
      attempt: 1,
      startedAt: "2026-01-15T10:00:00.000Z",
      finishedAt: "2026-01-15T10:00:01.000Z",
    };
    expect(jobStatusSchema.safeParse({ ...run, status: "failed" }).success).toBe(false);
    expect(jobStatusSchema.safeParse({ ...run, status: "succeeded" }).success).toBe(false);
    expect(
      jobStatusSchema.safeParse({
        ...run,
        status: "failed",
        error: { code: "invalid_image", message: "corrupt", retryable: false },
      }).success,
    ).toBe(true);
  });
});
