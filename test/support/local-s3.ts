/**
 * A real S3 protocol server for tests (s3rver, in-process, on a free port, over a temporary directory).
 *
 * s3rver predates S3's conditional writes (2024), which the pipeline's claims rely on, so this adds them
 * as S3 documents them: a PutObject with `If-None-Match: *` answers 412 PreconditionFailed when the key
 * exists (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html). Writes to one
 * key are serialised so that the check and the write cannot interleave with another conditional write.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";

export interface LocalS3 {
  /** The endpoint URL for the SDK (path-style). */
  readonly url: string;
  readonly server: S3rver;
  close(): Promise<void>;
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
export async function startLocalS3(buckets: readonly string[]): Promise<LocalS3> {
  const directory = await mkdtemp(path.join(tmpdir(), "cellseg-s3rver-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, directory, silent: true, configureBuckets: buckets.map((name) => ({ name })) });
  const queues = new Map<string, Promise<void>>();
  server.middleware.unshift(async (ctx, next) => {
    if (ctx.method !== "PUT" || ctx.headers["if-none-match"] !== "*") return next();
    const [bucket, ...rest] = ctx.path.slice(1).split("/").map(decodeURIComponent);
    const key = rest.join("/");
    const previous = queues.get(`${bucket}/${key}`) ?? Promise.resolve();
    let done!: () => void;
    const turn = new Promise<void>((resolve) => (done = resolve));
    queues.set(`${bucket}/${key}`, previous.then(() => turn));
    await previous;
    try {
      if (await ctx.store.existsObject(bucket, key)) {
        ctx.status = 412;
        ctx.type = "application/xml";
        ctx.body =
          '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition></Error>';
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
    close: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
