/**
 * An S3 protocol server on this machine (s3rver, in-process): the local stack's storage when it is
 * configured to speak S3 (`LOCAL_STORAGE=s3rver`), and the tests' real S3.
 *
 * s3rver predates S3's conditional writes (2024), which the pipeline's claims rely on, so this adds them
 * as S3 documents them: a PutObject with `If-None-Match: *` answers 412 PreconditionFailed when the key
 * exists (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html). Writes to one
 * key are serialised so that the check and the write cannot interleave with another conditional write.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import { encodeS3EventKey, s3NotificationSchema, type S3EventRecord } from "../segment/s3-notification";

export interface LocalS3 {
  /** The endpoint URL for the SDK (path-style). */
  readonly url: string;
  readonly server: S3rver;
  /**
   * Calls `listener` with each object-created record, as S3 would notify it (key URL-encoded).
   *
   * @returns a function that removes the listener.
   */
  onObjectCreated(listener: (record: S3EventRecord) => void): () => void;
  close(): Promise<void>;
}

export interface LocalS3Options {
  /** @default 0: a free port */
  readonly port?: number;
  /** Where the objects live. @default a temporary directory, removed by close() */
  readonly directory?: string;
  /** Origins whose pages may use presigned links from a browser (the web console's), as the deployed buckets' CORS. */
  readonly corsOrigins?: readonly string[];
}

/** s3rver's default credentials: the SDK must sign with them. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/**
 * An SDK client of the local server, with the settings the wiring uses for S3-compatible servers
 * (path-style, checksums only when required) and s3rver's credentials.
 *
 * @example
 * ```ts
 * const s3 = await startLocalS3(["cellseg-input"]);
 * const storage = new S3Storage(localS3Client(s3), "cellseg-input");
 * ```
 */
export function localS3Client(s3: Pick<LocalS3, "url">): S3Client {
  return new S3Client({
    endpoint: s3.url,
    region: "us-east-1",
    credentials: LOCAL_S3_CREDENTIALS,
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/**
 * @example
 * ```ts
 * const s3 = await startLocalS3(["cellseg-input"]);
 * const client = localS3Client(s3);
 * ```
 */
export async function startLocalS3(buckets: readonly string[], options: LocalS3Options = {}): Promise<LocalS3> {
  const temporary = options.directory === undefined;
  const directory = options.directory ?? (await mkdtemp(path.join(tmpdir(), "cellseg-s3rver-")));
  await mkdir(directory, { recursive: true });
  const server = new S3rver({
    address: "127.0.0.1",
    port: options.port ?? 0,
    directory,
    silent: true,
    configureBuckets: buckets.map((name) => ({
      name,
      configs: options.corsOrigins?.length ? [corsConfiguration(options.corsOrigins)] : [],
    })),
  });
  const queues = new Map<string, Promise<void>>();
  server.middleware.unshift(async (ctx, next) => {
    if (ctx.method !== "PUT" || ctx.headers["if-none-match"] !== "*") return next();
    const [bucket, ...rest] = ctx.path.slice(1).split("/").map(decodeURIComponent);
    const key = rest.join("/");
    const previous = queues.get(`${bucket}/${key}`) ?? Promise.resolve();
    let done!: () => void;
    const turn = new Promise<void>((resolve) => (done = resolve));
    queues.set(
      `${bucket}/${key}`,
      previous.then(() => turn),
    );
    await previous;
    try {
      if (await ctx.store.existsObject(bucket, key)) {
        ctx.status = 412;
        ctx.type = "application/xml";
        ctx.body =
          '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>' +
          "<Message>At least one of the pre-conditions you specified did not hold</Message>" +
          "<Condition>If-None-Match</Condition></Error>";
        return;
      }
      await next();
    } finally {
      done();
    }
  });
  const { port } = await server.run();
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    onObjectCreated: (listener) => {
      const forward = (event: unknown) => {
        for (const record of objectCreatedRecords(event)) listener(record);
      };
      server.on("event", forward);
      return () => server.off("event", forward);
    },
    close: async () => {
      await server.close();
      if (temporary) await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Uploads (PUT) and downloads (GET) through presigned links from the given origins' pages. */
function corsConfiguration(origins: readonly string[]): string {
  const allowed = origins.map((origin) => `<AllowedOrigin>${origin}</AllowedOrigin>`).join("");
  return (
    `<CORSConfiguration><CORSRule>${allowed}` +
    "<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>HEAD</AllowedMethod>" +
    "<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3600</MaxAgeSeconds>" +
    "</CORSRule></CORSConfiguration>"
  );
}

/**
 * s3rver's notification records, in S3's own form: s3rver writes keys as they are, S3 writes them
 * URL-encoded (which the pipeline decodes).
 */
function objectCreatedRecords(event: unknown): S3EventRecord[] {
  const records = (event as { Records?: { eventName?: string; s3?: { object?: { key?: string } } }[] }).Records ?? [];
  const encoded = {
    Records: records
      .filter((record) => record.eventName?.startsWith("ObjectCreated:"))
      .map((record) => ({
        ...record,
        s3: { ...record.s3, object: { ...record.s3?.object, key: encodeS3EventKey(record.s3?.object?.key ?? "") } },
      })),
  };
  if (encoded.Records.length === 0) return [];
  const parsed = s3NotificationSchema.safeParse(encoded);
  return parsed.success && "Records" in parsed.data ? parsed.data.Records : [];
}
