/**
 * {@link Storage} on one S3 bucket. Every write is a single PutObject (or one multipart upload), which S3 makes visible
 * atomically; conditional creation uses S3's conditional writes (`If-None-Match: *`, 412 when the key exists).
 */
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Readable } from "node:stream";
import { Upload } from "@aws-sdk/lib-storage";
import type { ObjectInfo, PutOptions, Storage, StoredObject } from "./storage";

/** How often a conditional write that collided with another in flight (409) is tried again. */
const CONFLICT_RETRIES = 3;

/**
 * @example
 * ```ts
 * const storage = new S3Storage(new S3Client({}), "cellseg-input");
 * const object = await storage.get("input/job-1/a.png");
 * ```
 */
export class S3Storage implements Storage {
  readonly name: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {
    this.name = `s3://${bucket}`;
  }

  async get(key: string, options: { readonly versionId?: string } = {}): Promise<StoredObject | undefined> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, VersionId: options.versionId }),
      );
      const body = (await response.Body?.transformToByteArray()) ?? new Uint8Array(0);
      return {
        key,
        etag: unquote(response.ETag),
        size: body.length,
        body,
        ...(response.VersionId ? { versionId: response.VersionId } : {}),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async getStream(key: string): Promise<ReadableStream<Uint8Array> | undefined> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return response.Body?.transformToWebStream() ?? new Blob([]).stream();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        key,
        etag: unquote(response.ETag),
        size: response.ContentLength ?? 0,
        ...(response.VersionId ? { versionId: response.VersionId } : {}),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: options.contentType }),
    );
  }

  /**
   * A multipart upload (lib-storage's Upload: a few 5 MB parts in memory at a time; one PutObject when the
   * whole stream fits in a part). S3 shows the object only once the upload completes, so it is atomic too.
   */
  async putStream(key: string, chunks: AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<number> {
    const iterator = chunks[Symbol.asyncIterator]();
    let first = await iterator.next();
    while (!first.done && first.value.length === 0) first = await iterator.next();
    if (first.done) return 0;
    let size = 0;
    const counted = async function* () {
      for (let chunk: IteratorResult<Uint8Array> = first; !chunk.done; chunk = await iterator.next()) {
        size += chunk.value.length;
        yield chunk.value;
      }
    };
    await new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: Readable.from(counted()), ContentType: options.contentType },
    }).done();
    return size;
  }

  async createIfAbsent(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: body,
            ContentType: options.contentType,
            IfNoneMatch: "*",
          }),
        );
        return true;
      } catch (error) {
        const status = httpStatus(error);
        if (status === 412) return false;
        // 409 ConditionalRequestConflict: another conditional write on the key was in flight; S3 asks to retry.
        if (status === 409 && attempt < CONFLICT_RETRIES) continue;
        throw error;
      }
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const objects: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined)
          objects.push({ key: object.Key, etag: unquote(object.ETag), size: object.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}

function unquote(etag: string | undefined): string {
  return (etag ?? "").replace(/^(W\/)?"|"$/g, "");
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === "NoSuchKey" || name === "NotFound" || httpStatus(error) === 404;
}
