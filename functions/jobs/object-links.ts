/**
 * Links the API hands to clients so that image bytes never pass through it: where to upload an input and
 * where to download a result. S3 answers with presigned URLs (s3-object-links.ts); the local stack with
 * signed upload URLs of its own API and no download links (the API serves the bytes itself).
 */

/** How the client uploads one object: an HTTP PUT to `url` with `headers`. */
export interface UploadLink {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface DownloadOptions {
  readonly expiresInSeconds: number;
  /** The name the browser saves it as. */
  readonly fileName: string;
  readonly contentType: string;
}

/**
 * @example
 * ```ts
 * const upload = await links.upload("input/job-1/a01.tif", 3600);
 * await fetch(upload.url, { method: "PUT", headers: upload.headers, body: bytes });
 * ```
 */
export interface ObjectLinks {
  /** A link that stores the PUT body as the input object `key`, valid for `expiresInSeconds`. */
  upload(key: string, expiresInSeconds: number): Promise<UploadLink>;
  /** A link to the output object `key`, or undefined when the API must serve the bytes itself. */
  download(key: string, options: DownloadOptions): Promise<string | undefined>;
}
