/**
 * {@link Storage} in a local directory, for running the pipeline without AWS. The directory plays one
 * bucket: key `a/b.png` is the file `<root>/a/b.png`.
 */
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream, type Dirent } from "node:fs";
import { type FileHandle, link, mkdir, open, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import path from "node:path";
import type { ObjectInfo, Storage, StoredObject } from "./storage";

/** Where objects are written before they are moved into place; never listed, never a key. */
const STAGING_DIR = ".staging";
/** Files whose ETag is remembered (about 200 bytes each). */
const ETAGS_REMEMBERED = 100_000;

/**
 * @example
 * ```ts
 * const storage = new LocalStorage("/var/cellseg/bucket");
 * await storage.put("input/job-1/a.png", png);
 * ```
 */
export class LocalStorage implements Storage {
  readonly name: string;
  /**
   * The ETag (MD5 of the content, as S3's for a single-part upload) of each file already read, with the file's
   * identity and modification when it was: a listing of a job reads each image once, not at every call.
   */
  private readonly etags = new Map<string, { readonly version: string; readonly etag: string }>();

  constructor(root: string) {
    this.name = path.resolve(root);
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const file = this.pathOf(key);
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    return { key, etag: md5(body), size: body.length, body };
  }

  async getStream(key: string): Promise<ReadableStream<Uint8Array> | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.pathOf(key));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    // The open file: a version put meanwhile (a rename over it) does not change what is read.
    return Readable.toWeb(handle.createReadStream()) as ReadableStream<Uint8Array>;
  }

  /** Reads the file (once per version of it) through MD5 in chunks: never whole in memory, however large. */
  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.pathOf(key);
    let handle: FileHandle;
    try {
      handle = await open(file);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    try {
      // The open file, not the path: a file replaced meanwhile (rename) cannot mix two versions.
      const stats = await handle.stat();
      if (!stats.isFile()) return undefined;
      const version = `${stats.ino}:${stats.size}:${stats.mtimeMs}`;
      const known = this.etags.get(file);
      let etag = known?.version === version ? known.etag : undefined;
      if (etag === undefined) {
        const hash = createHash("md5");
        for await (const chunk of handle.createReadStream({ autoClose: false })) hash.update(chunk as Buffer);
        etag = hash.digest("hex");
        this.etags.delete(file);
        this.etags.set(file, { version, etag });
        if (this.etags.size > ETAGS_REMEMBERED) this.etags.delete(this.etags.keys().next().value!);
      }
      return { key, etag, size: stats.size };
    } finally {
      await handle.close();
    }
  }

  /** Atomic: the content is written to a staging file and renamed into place (rename replaces atomically). */
  async put(key: string, body: Uint8Array | string): Promise<void> {
    const target = this.pathOf(key);
    const staged = await this.stage(body);
    try {
      await mkdir(path.dirname(target), { recursive: true });
      await rename(staged, target);
    } catch (error) {
      await rm(staged, { force: true });
      throw error;
    }
  }

  /** Staged on disk, then renamed into place as {@link put} is. */
  async putStream(key: string, chunks: AsyncIterable<Uint8Array>): Promise<number> {
    const target = this.pathOf(key);
    const staged = await this.stagingFile();
    let size = 0;
    try {
      await pipeline(
        chunks,
        async function* (source) {
          for await (const chunk of source) {
            size += chunk.length;
            yield chunk;
          }
        },
        createWriteStream(staged),
      );
      if (size > 0) {
        await mkdir(path.dirname(target), { recursive: true });
        await rename(staged, target);
      }
    } finally {
      await rm(staged, { force: true });
    }
    return size;
  }

  /**
   * Exclusive: the content is staged, then hard-linked into place; link() fails with EEXIST when the key
   * exists, atomically, and the object is complete from the moment it is visible (unlike open(wx) + write).
   */
  async createIfAbsent(key: string, body: Uint8Array | string): Promise<boolean> {
    const target = this.pathOf(key);
    const staged = await this.stage(body);
    try {
      await mkdir(path.dirname(target), { recursive: true });
      await link(staged, target);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw error;
    } finally {
      await rm(staged, { force: true });
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    // Start from the deepest directory the prefix names; the rest of the prefix filters names.
    const directory = prefix.includes("/") ? prefix.slice(0, prefix.lastIndexOf("/")) : "";
    const start = directory === "" ? this.name : this.pathOf(directory);
    let entries: Dirent[];
    try {
      entries = await readdir(start, { recursive: true, withFileTypes: true });
    } catch (error) {
      if (isMissing(error) || (error as NodeJS.ErrnoException).code === "ENOTDIR") return [];
      throw error;
    }
    const keys = entries
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(this.name, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
      // A file the key rules cannot name (a backslash in it, dropped there by hand) is no object of this bucket.
      .filter((key) => key.startsWith(prefix) && isKey(key))
      .sort();
    const infos: ObjectInfo[] = [];
    for (const key of keys) {
      const info = await this.head(key);
      if (info) infos.push(info);
    }
    return infos;
  }

  /** The file of a key; refuses keys that could leave the directory or collide with staging. */
  private pathOf(key: string): string {
    if (!isKey(key)) {
      throw new RangeError(
        `"${key}" is not a key local storage accepts: '/'-separated segments, none empty, '.', '..' or ` +
          `'${STAGING_DIR}' first`,
      );
    }
    return path.join(this.name, ...key.split("/"));
  }

  private async stage(body: Uint8Array | string): Promise<string> {
    const file = await this.stagingFile();
    await writeFile(file, body);
    return file;
  }

  private async stagingFile(): Promise<string> {
    const directory = path.join(this.name, STAGING_DIR);
    await mkdir(directory, { recursive: true });
    return path.join(directory, randomUUID());
  }
}

/** Keys that stay inside the directory and clear of staging. */
function isKey(key: string): boolean {
  const segments = key.split("/");
  return (
    key !== "" &&
    segments[0] !== STAGING_DIR &&
    segments.every((s) => s !== "" && s !== "." && s !== ".." && !s.includes("\\") && !s.includes("\0"))
  );
}

function md5(body: Uint8Array): string {
  return createHash("md5").update(body).digest("hex");
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR";
}
