import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { watchInputFolder, type InputWatcher } from "../../../../functions/local/input-watcher";
import { LocalStorage } from "../../../../functions/pipeline/storage/local-storage";
import { memoryLogger } from "../api/api-fixture";

const WAIT = { timeout: 15_000, interval: 20 } as const;

describe("watchInputFolder", () => {
  let bucket: string;
  const watchers: InputWatcher[] = [];

  beforeEach(async () => {
    bucket = await mkdtemp(path.join(tmpdir(), "cellseg-watcher-"));
  });

  afterEach(async () => {
    await Promise.all(watchers.splice(0).map((watcher) => watcher.close()));
    await rm(bucket, { recursive: true, force: true });
  });

  /** Writes a file of the bucket by its key, making its folders. */
  async function put(key: string, content = `bytes of ${key}`): Promise<void> {
    const file = path.join(bucket, ...key.split("/"));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }

  async function watch(): Promise<{ keys: string[]; watcher: InputWatcher }> {
    const keys: string[] = [];
    const watcher = watchInputFolder({
      bucketDirectory: bucket,
      onObject: (key) => keys.push(key),
      logger: memoryLogger(),
      stabilityMs: 30,
      recheckNewFolderMs: 200,
    });
    watchers.push(watcher);
    await watcher.ready;
    return { keys, watcher };
  }

  /** Writes a marker file and waits until it is reported: whatever was written before had its chance. */
  async function settle(keys: string[], name: string): Promise<void> {
    const marker = `input/markers/${name}.png`;
    await put(marker);
    await vi.waitFor(() => expect(keys).toContain(marker), WAIT);
  }

  it("creates the input folder when there is none yet", async () => {
    await watch();

    expect(existsSync(path.join(bucket, "input"))).toBe(true);
  });

  it("reports the files already there by the time it is ready, hidden ones left out", async () => {
    // Prepare
    await put("input/job-1/a.png");
    await put("input/job-1/plate 1/B02.tif");
    await put("input/job-1/.DS_Store");
    await put("input/.hidden-job/c.png");

    // Act
    const { keys } = await watch();

    // Assess
    expect([...keys].sort()).toEqual(["input/job-1/a.png", "input/job-1/plate 1/B02.tif"]);
  });

  it("reports a new file once, by its key", async () => {
    // Prepare
    const { keys } = await watch();

    // Act
    await put("input/job-1/a.png");
    await vi.waitFor(() => expect(keys).toContain("input/job-1/a.png"), WAIT);
    await settle(keys, "after-a");

    // Assess
    expect(keys.filter((key) => key === "input/job-1/a.png")).toHaveLength(1);
  });

  it("reports files in nested folders with '/'-separated keys", async () => {
    // Prepare
    const { keys } = await watch();

    // Act
    await put("input/job-2/plate 1/row a/A01.tif");

    // Assess
    await vi.waitFor(() => expect(keys).toContain("input/job-2/plate 1/row a/A01.tif"), WAIT);
  });

  it("reports every file of many folders copied in at once, each once", async () => {
    // chokidar lists a new folder before watching it and misses what lands in between (1 file in ~600 here,
    // once every few runs): the recheck of each new folder finds it.
    const { keys } = await watch();
    const folders = Array.from({ length: 300 }, (_, i) => `input/copied-${i}`);

    await Promise.all(
      folders.map(async (folder) => {
        await put(`${folder}/a.png`);
        await put(`${folder}/b.png`);
      }),
    );

    const expected = folders.flatMap((folder) => [`${folder}/a.png`, `${folder}/b.png`]).sort();
    await vi.waitFor(() => expect([...new Set(keys)].sort()).toEqual(expected), WAIT);
    await settle(keys, "after-copies");
    expect(keys.filter((key) => key.startsWith("input/copied-"))).toHaveLength(expected.length);
  });

  it("reports files in folders whose names end in '~', which the API accepts as job folders", async () => {
    // Prepare
    const { keys } = await watch();

    // Act
    await put("input/job-1/~/x.png");
    await put("input/job-2/backup~/y.png");

    // Assess
    await vi.waitFor(
      () => expect(keys).toEqual(expect.arrayContaining(["input/job-1/~/x.png", "input/job-2/backup~/y.png"])),
      WAIT,
    );
  });

  it("ignores dotfiles, hidden folders and staging folders", async () => {
    // Prepare
    const { keys } = await watch();

    // Act
    await put("input/job-1/.partial.png");
    await put("input/job-1/.staging/x.png");
    await put("input/.staging/y.png");
    await put("input/job-1/.git/objects/z.png");
    await settle(keys, "after-hidden");

    // Assess
    expect(keys).toEqual(["input/markers/after-hidden.png"]);
  });

  it("reports an object LocalStorage writes (staged outside the input folder, then renamed in) once", async () => {
    // Prepare
    const { keys } = await watch();
    const storage = new LocalStorage(bucket);

    // Act
    await storage.put("input/job-3/a.png", new Uint8Array([1, 2, 3]));
    await storage.put("output/job-3/a.png/status.json", "{}");
    await vi.waitFor(() => expect(keys).toContain("input/job-3/a.png"), WAIT);
    await settle(keys, "after-storage");

    // Assess
    expect(keys.filter((key) => key === "input/job-3/a.png")).toHaveLength(1);
    expect(keys.some((key) => !key.startsWith("input/"))).toBe(false);
  });

  it("reports nothing once closed", async () => {
    // Prepare: a second watcher witnesses that the file was there to be seen.
    const { keys, watcher } = await watch();
    const witness = await watch();
    await watcher.close();

    // Act
    await put("input/job-1/late.png");
    await vi.waitFor(() => expect(witness.keys).toContain("input/job-1/late.png"), WAIT);
    await settle(witness.keys, "after-close");

    // Assess
    expect(keys).toEqual([]);
  });
});
