import { describe, expect, it } from "vitest";
import { inputKey, outputKeys, parseInputKey, runIdOf } from "../../../../core/schemas/object-keys";

describe("input keys", () => {
  it.each([
    ["input/job-1/a01.png", { jobId: "job-1", fileName: "a01.png", imageId: "a01" }],
    ["input/job-1/plate 1/a01.ome.tif", { jobId: "job-1", fileName: "plate 1/a01.ome.tif", imageId: "a01.ome" }],
  ])("reads %s", (key, expected) => {
    expect(parseInputKey(key)).toEqual(expected);
  });

  it.each([
    "input/a01.png",
    "output/job-1/a01.png",
    "input/job-1/",
    "input/job-1/a//b.png",
    "input/job-1/../a.png",
    "input/-job/a.png",
    "input/job 1/a.png",
  ])("does not take %s for an input", (key) => {
    expect(parseInputKey(key)).toBeUndefined();
  });

  it("builds the key a job's upload must have, and refuses names outside the layout", () => {
    expect(inputKey("job-1", "plate 1/a01.png")).toBe("input/job-1/plate 1/a01.png");
    expect(() => inputKey("job/1", "a.png")).toThrow(/job id/);
    expect(() => inputKey("job-1", "../a.png")).toThrow(/segments/);
  });
});

describe("output keys", () => {
  it("puts results under the run's prefix and the status beside the runs", () => {
    // Act
    const keys = outputKeys({ jobId: "job-1", fileName: "plate 1/a01.png" }, "0123456789abcdef0123");

    // Assess
    expect(keys.status).toBe("output/job-1/plate 1/a01.png/status.json");
    expect(keys.results).toEqual({
      instances: "output/job-1/plate 1/a01.png/runs/0123456789abcdef0123/instances.json",
      submission: "output/job-1/plate 1/a01.png/runs/0123456789abcdef0123/submission.csv",
      coco: "output/job-1/plate 1/a01.png/runs/0123456789abcdef0123/coco.json",
      labels: "output/job-1/plate 1/a01.png/runs/0123456789abcdef0123/labels.png",
      overlay: "output/job-1/plate 1/a01.png/runs/0123456789abcdef0123/overlay.png",
      preview: "output/job-1/plate 1/a01.png/runs/0123456789abcdef0123/preview.png",
      measurements: "output/job-1/plate 1/a01.png/runs/0123456789abcdef0123/measurements.csv",
      summary: "output/job-1/plate 1/a01.png/runs/0123456789abcdef0123/summary.csv",
      outlines: "output/job-1/plate 1/a01.png/runs/0123456789abcdef0123/outlines.geojson",
    });
    expect(keys.claim(12)).toBe("output/job-1/plate 1/a01.png/runs/0123456789abcdef0123/claims/000012.json");
  });

  it("derives one run id per object version", () => {
    const a = { bucket: "in", key: "input/j/a.png", etag: "e1" };
    expect(runIdOf(a)).toMatch(/^[0-9a-f]{20}$/);
    expect(runIdOf(a)).toBe(runIdOf({ ...a }));
    expect(runIdOf(a)).not.toBe(runIdOf({ ...a, etag: "e2" }));
    expect(runIdOf({ ...a, versionId: "v1" })).not.toBe(runIdOf({ ...a, versionId: "v2" }));
    expect(runIdOf({ ...a, versionId: "v1" })).toBe(runIdOf({ ...a, etag: "other", versionId: "v1" }));
  });
});
