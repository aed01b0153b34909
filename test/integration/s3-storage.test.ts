/**
 * S3Storage against a real S3 protocol server (s3rver), with the client settings the wiring uses for
 * S3-compatible servers.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Storage } from "../../functions/pipeline/storage/s3-storage";
import { localS3Client, startLocalS3, type LocalS3 } from "../support/local-s3";

describe("S3Storage (s3rver)", () => {
  let s3: LocalS3;
  let storage: S3Storage;

  beforeAll(async () => {
    s3 = await startLocalS3(["cellseg-test"]);
    storage = new S3Storage(localS3Client(s3), "cellseg-test");
  });

  afterAll(() => s3?.close());

  it("round-trips binary content byte for byte, with its ETag", async () => {
    // Prepare
    const body = randomBytes(300_000);

    // Act
    await storage.put("input/job-1/plate 1/a+b.png", body, { contentType: "image/png" });
    const object = await storage.get("input/job-1/plate 1/a+b.png");
    const head = await storage.head("input/job-1/plate 1/a+b.png");

    // Assess
    expect(Buffer.from(object!.body).equals(body)).toBe(true);
    expect(object!.etag).toMatch(/^[0-9a-f]{32}$/);
    expect(head).toEqual({ key: "input/job-1/plate 1/a+b.png", etag: object!.etag, size: body.length });
  });

  it(
    "stores a stream larger than a multipart part (a job-wide CSV) in order, nothing for an empty stream, " +
      "and reads it back as a stream",
    async () => {
      // Prepare: 12 MiB in 1 MiB chunks, more than two of lib-storage's 5 MiB parts.
      const chunks = Array.from({ length: 12 }, () => randomBytes(1 << 20));
      async function* stream(parts: Buffer[]) {
        for (const part of parts) yield part;
      }

      // Act
      const size = await storage.putStream("jobs/job-1/results/measurements-x.csv", stream(chunks), {
        contentType: "text/csv; charset=utf-8",
      });
      const empty = await storage.putStream("jobs/job-1/results/empty.csv", stream([]));

      // Assess
      expect(size).toBe(12 << 20);
      expect(
        Buffer.from((await storage.get("jobs/job-1/results/measurements-x.csv"))!.body).equals(Buffer.concat(chunks)),
      ).toBe(true);
      expect(empty).toBe(0);
      expect(await storage.head("jobs/job-1/results/empty.csv")).toBeUndefined();
      const streamed = await storage.getStream("jobs/job-1/results/measurements-x.csv");
      expect(Buffer.from(await new Response(streamed).arrayBuffer()).equals(Buffer.concat(chunks))).toBe(true);
      expect(await storage.getStream("jobs/job-1/results/empty.csv")).toBeUndefined();
    },
  );

  it("answers undefined for a missing object", async () => {
    expect(await storage.get("nothing/here")).toBeUndefined();
    expect(await storage.head("nothing/here")).toBeUndefined();
  });

  it("lists a prefix in key order", async () => {
    // Prepare
    for (const key of ["list/b", "list/a", "list/c/d", "listing/x"]) await storage.put(key, key);

    // Act
    const keys = (await storage.list("list/")).map((o) => o.key);

    // Assess
    expect(keys).toEqual(["list/a", "list/b", "list/c/d"]);
  });

  it("creates an object only if absent (If-None-Match: *), for exactly one of concurrent creators", async () => {
    // Act
    const created = await Promise.all(
      Array.from({ length: 8 }, (_, i) => storage.createIfAbsent("claims/000000.json", `{"owner":${i}}`)),
    );
    const again = await storage.createIfAbsent("claims/000000.json", "{}");

    // Assess
    expect(created.filter(Boolean)).toHaveLength(1);
    expect(again).toBe(false);
    expect(new TextDecoder().decode((await storage.get("claims/000000.json"))!.body)).toBe(
      `{"owner":${created.indexOf(true)}}`,
    );
  });
});
