/**
 * {@link ObjectLinks} as S3 presigned URLs: the client uploads to and downloads from S3 directly, signed
 * with the API's own credentials (so its role needs PutObject on the input prefix and GetObject on the
 * output prefix, and nothing more).
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { DownloadOptions, ObjectLinks, UploadLink } from "./object-links";

/**
 * @example
 * ```ts
 * // A client with requestChecksumCalculation "WHEN_REQUIRED": otherwise the SDK signs a checksum of an
 * // empty body into upload URLs, and every real upload fails.
 * const links = new S3ObjectLinks(new S3Client({ requestChecksumCalculation: "WHEN_REQUIRED" }), {
 *   input: "in",
 *   output: "out",
 * });
 * ```
 */
export class S3ObjectLinks implements ObjectLinks {
  constructor(
    private readonly client: S3Client,
    private readonly buckets: { readonly input: string; readonly output: string },
  ) {}

  async upload(key: string, expiresInSeconds: number): Promise<UploadLink> {
    const url = await getSignedUrl(this.client, new PutObjectCommand({ Bucket: this.buckets.input, Key: key }), {
      expiresIn: expiresInSeconds,
    });
    return { url, headers: {} };
  }

  async download(key: string, options: DownloadOptions): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.buckets.output,
      Key: key,
      ResponseContentType: options.contentType,
      ResponseContentDisposition: contentDisposition(options.fileName),
    });
    return getSignedUrl(this.client, command, { expiresIn: options.expiresInSeconds });
  }
}

/** `attachment` with the name both as plain ASCII and RFC 5987-encoded, for names with other characters. */
export function contentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, "_");
  // encodeURIComponent leaves ' ( ) * as they are, which RFC 8187 does not allow in an ext-value.
  const encoded = encodeURIComponent(fileName).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
