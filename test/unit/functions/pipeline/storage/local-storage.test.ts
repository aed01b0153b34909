import { createHash } from "node:crypto";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { LocalStorage } from "../../../../../functions/pipeline/storage/local-storage";

describe("LocalStorage", () => {
  let root: string;
  let storage: LocalStorage;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), "cellseg-local-storage-"));
    storage = new LocalStorage(root);
  });

  it("stores objects under their keys, with an MD5 ETag as S3 gives single-part uploads", async () => {
    // Prepare
    const body = new Uint8Array([0, 1, 2, 255]);

    // Act
    await storage.put("input/job-1/plate 1/a.png", body);
    const object = await storage.get("input/job-1/plate 1/a.png");
    const head = await storage.head("input/job-1/plate 1/a.png");

    // Assess
    const md5 = createHash("md5").update(body).digest("hex");
    expect(object).toMatchObject({ key: "input/job-1/plate 1/a.png", etag: md5, size: 4 });
    expect(Array.from(object!.body)).toEqual([0, 1, 2, 255]);
    expect(head).toEqual({ key: "input/job-1/plate 1/a.png", etag: md5, size: 4 });
  });

  it("reads an object as a stream, and answers undefined for a missing one", async () => {
    // Prepare
    const body = new Uint8Array(300_000).map((_, i) => i % 251);
    await storage.put("jobs/job-1/results/measurements-x.csv", body);

    // Act
    const stream = await storage.getStream("jobs/job-1/results/measurements-x.csv");
    const missing = await storage.getStream("jobs/job-1/results/none.csv");

    // Assess
    expect(Buffer.from(await new Response(stream).arrayBuffer()).equals(Buffer.from(body))).toBe(true);
    expect(missing).toBeUndefined();
  });

  it("stores a stream chunk by chunk, and nothing for an empty stream or one that fails midway", async () => {
    // Prepare
    async function* chunks(count: number, failAfter = Infinity) {
      for (let i = 0; i < count; i++) {
        if (i === failAfter) throw new Error("the client went away");
        yield new Uint8Array(64 * 1024).fill(i);
      }
    }

    // Act
    const size = await storage.putStream("input/job-1/big.tif", chunks(16));
    const empty = await storage.putStream("input/job-1/empty.tif", chunks(0));
    const failed = await storage.putStream("input/job-1/broken.tif", chunks(16, 3)).catch((error: unknown) => error);

    // Assess
    expect(size).toBe(16 * 64 * 1024);
    const stored = await storage.get("input/job-1/big.tif");
    expect(stored?.size).toBe(size);
    expect(stored?.body[5 * 64 * 1024]).toBe(5);
    expect(empty).toBe(0);
    expect(await storage.head("input/job-1/empty.tif")).toBeUndefined();
    expect(failed).toBeInstanceOf(Error);
    expect(await storage.head("input/job-1/broken.tif")).toBeUndefined();
    expect(await readdir(path.join(root, ".staging"))).toEqual([]);
  });

  it(
    "heads a file by the MD5 of its current content: " + "a large one read in chunks, a replaced one read again",
    async () => {
      // Prepare: 3 MiB (several read chunks), then the same size with one byte changed.
      const key = "input/job-1/a.tif";
      const first = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
      const second = Uint8Array.from(first);
      second[first.length - 1] = 250;
      const md5 = (body: Uint8Array) => createHash("md5").update(body).digest("hex");

      // Act
      await storage.put(key, first);
      const before = await storage.head(key);
      const again = await storage.head(key);
      await storage.put(key, second);
      const after = await storage.head(key);

      // Assess
      expect(before).toEqual({ key, etag: md5(first), size: first.length });
      expect(again).toEqual(before);
      expect(after).toEqual({ key, etag: md5(second), size: second.length });
      expect((await storage.list("input/job-1/"))[0]).toEqual(after);
    },
  );

  it("answers undefined for a missing object, and for a key that names a folder", async () => {
    // Prepare
    await storage.put("output/job-1/a.png/status.json", "{}");

    // Act & Assess
    expect(await storage.get("output/job-1/b.png/status.json")).toBeUndefined();
    expect(await storage.head("output/job-1/a.png")).toBeUndefined();
    expect(await storage.get("output/job-1/a.png/status.json/x")).toBeUndefined();
  });

  it("lists the objects under a prefix in key order, never its staging files", async () => {
    // Prepare
    for (const key of ["output/j/b/2.json", "output/j/a/1.json", "output/k/c.json", "output/jj/d.json"])
      await storage.put(key, "x");

    // Act
    const underJ = await storage.list("output/j/");
    const startingWithJ = await storage.list("output/j");
    const nothing = await storage.list("output/none/");

    // Assess
    expect(underJ.map((o) => o.key)).toEqual(["output/j/a/1.json", "output/j/b/2.json"]);
    expect(startingWithJ.map((o) => o.key)).toEqual(["output/j/a/1.json", "output/j/b/2.json", "output/jj/d.json"]);
    expect(nothing).toEqual([]);
    expect((await storage.list("")).every((o) => !o.key.startsWith(".staging"))).toBe(true);
  });

  it("never lets a reader see a partly written object", async () => {
    // Prepare: two 4 MiB versions, written alternately while a reader reads.
    const versions = [new Uint8Array(4 << 20).fill(1), new Uint8Array(4 << 20).fill(2)];
    await storage.put("output/big.bin", versions[0]);
    const seen = new Set<string>();
    let writing = true;

    // Act
    const writer = (async () => {
      for (let i = 0; i < 20; i++) await storage.put("output/big.bin", versions[i % 2]);
      writing = false;
    })();
    while (writing) {
      const object = await storage.get("output/big.bin");
      const body = object!.body;
      seen.add(`${body.length}:${body[0]}:${body[body.length - 1]}:${body.every((b) => b === body[0])}`);
    }
    await writer;

    // Assess
    expect([...seen].every((s) => s === `${4 << 20}:1:1:true` || s === `${4 << 20}:2:2:true`)).toBe(true);
  });

  it("lets exactly one of many concurrent creators create an object, complete", async () => {
    // Act
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) => storage.createIfAbsent("output/claims/000000.json", `{"owner":${i}}`)),
    );

    // Assess
    expect(created.filter(Boolean)).toHaveLength(1);
    const winner = created.indexOf(true);
    expect(new TextDecoder().decode((await storage.get("output/claims/000000.json"))!.body)).toBe(
      `{"owner":${winner}}`,
    );
    expect(await readdir(path.join(root, ".staging"))).toEqual([]);
  });

  it.each(["", "../escape", "a/../b", "a//b", "/abs", ".staging/x", "a/./b"])("refuses the key %j", async (key) => {
    await expect(storage.put(key, "x")).rejects.toThrow(/is not a key local storage accepts/);
  });
});
