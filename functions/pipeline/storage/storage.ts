/**
 * Object storage as the pipeline needs it: one bucket (S3) or one directory (local runs), behind one
 * interface, so the pipeline does not know which it has. Keys are S3-style: `/`-separated, no leading `/`.
 */
import type { z } from "zod";
import { StoredDocumentError } from "./errors";

/** What storage knows about an object without reading it. */
export interface ObjectInfo {
  readonly key: string;
  /** Changes whenever the content does (S3's ETag, without quotes; an MD5 of the content locally). */
  readonly etag: string;
  readonly size: number;
  /** The object's version in a versioned S3 bucket. */
  readonly versionId?: string;
}

export interface StoredObject extends ObjectInfo {
  readonly body: Uint8Array;
}

export interface PutOptions {
  readonly contentType?: string;
}

/**
 * @example
 * ```ts
 * const storage: Storage = new LocalStorage("/tmp/bucket");
 * await storage.put("output/job-1/a.png/status.json", JSON.stringify(status), { contentType: "application/json" });
 * ```
 */
export interface Storage {
  /** A human-readable name for logs: `s3://bucket` or the directory. */
  readonly name: string;
  /** The object, or undefined when there is none. `versionId` reads that version (S3 only). */
  get(key: string, options?: { readonly versionId?: string }): Promise<StoredObject | undefined>;
  /**
   * The object's bytes as a stream, never whole in memory (a job's merged CSV served by the local API), or
   * undefined when there is none.
   */
  getStream(key: string): Promise<ReadableStream<Uint8Array> | undefined>;
  /** The object's metadata, or undefined when there is none. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Writes an object atomically: a reader sees the old content or the new, never a part. */
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<void>;
  /**
   * {@link put} from a stream, never holding the whole object in memory (an upload, a job-wide CSV of
   * hundreds of MB); as atomic as put. An empty stream stores nothing.
   *
   * @returns the bytes stored.
   */
  putStream(key: string, chunks: AsyncIterable<Uint8Array>, options?: PutOptions): Promise<number>;
  /**
   * Writes an object only if no object has the key, atomically with respect to concurrent calls: of two
   * callers, exactly one gets true.
   *
   * @returns true when this call created the object, false when it existed already.
   */
  createIfAbsent(key: string, body: Uint8Array | string, options?: PutOptions): Promise<boolean>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<ObjectInfo[]>;
}

/**
 * Reads a JSON document and parses it with `schema`.
 *
 * @returns the document, or undefined when there is no object.
 * @throws StoredDocumentError when the object is not JSON or not valid under `schema`.
 * @example
 * ```ts
 * const status = await getJson(storage, keys.status, jobStatusSchema);
 * ```
 */
export async function getJson<S extends z.ZodType>(
  storage: Storage,
  key: string,
  schema: S,
): Promise<z.output<S> | undefined> {
  const object = await storage.get(key);
  if (object === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(object.body));
  } catch (error) {
    throw new StoredDocumentError(`${storage.name}/${key} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new StoredDocumentError(`${storage.name}/${key} is not a valid document: ${parsed.error.message}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** Writes `value` as JSON. */
export function putJson(storage: Storage, key: string, value: unknown): Promise<void> {
  return storage.put(key, JSON.stringify(value), { contentType: "application/json" });
}
