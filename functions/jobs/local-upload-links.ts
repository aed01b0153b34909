/**
 * {@link ObjectLinks} for the local stack, whose storage is a directory that no client can PUT to: upload
 * links point at the local API's `PUT /v1/uploads/{token}`, where the token names the input key and its
 * expiry and is signed (HMAC-SHA256) with a secret only this process knows; the API checks it and stores
 * the body. There are no download links: the local API serves result bytes itself.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { parseInputKey } from "../../core/schemas/object-keys";
import { UploadTokenError } from "./errors";
import type { ObjectLinks, UploadLink } from "./object-links";

const tokenPayloadSchema = z.object({ key: z.string(), expiresAt: z.number().int() });

/**
 * @example
 * ```ts
 * const links = new LocalUploadLinks("http://localhost:3000");
 * const { url } = await links.upload("input/job-1/a.png", 3600); // http://localhost:3000/v1/uploads/eyJr…
 * links.verify(url.split("/").pop()!);                          // "input/job-1/a.png"
 * ```
 */
export class LocalUploadLinks implements ObjectLinks {
  constructor(
    private readonly apiBaseUrl: string,
    private readonly secret: Uint8Array = randomBytes(32),
    private readonly now: () => number = Date.now,
  ) {}

  async upload(key: string, expiresInSeconds: number): Promise<UploadLink> {
    const payload = Buffer.from(JSON.stringify({ key, expiresAt: this.now() + expiresInSeconds * 1000 })).toString(
      "base64url",
    );
    return { url: `${this.apiBaseUrl}/v1/uploads/${payload}.${this.sign(payload)}`, headers: {} };
  }

  async download(): Promise<undefined> {
    return undefined;
  }

  /**
   * The input key a token allows uploading to.
   *
   * @throws UploadTokenError when the token is malformed, forged or expired.
   */
  verify(token: string): string {
    const [payload, signature, ...rest] = token.split(".");
    // base64url of a SHA-256 digest is exactly 43 characters; Node's decoder would skip any others.
    if (!payload || !signature || rest.length > 0 || !/^[A-Za-z0-9_-]{43}$/.test(signature))
      throw new UploadTokenError("the upload link is malformed");
    const expected = Buffer.from(this.sign(payload), "base64url");
    const given = Buffer.from(signature, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new UploadTokenError(
        "the upload link's signature is not valid: links are signed by this run of the service, so one from " +
          "before a restart no longer works; create the job's links again",
      );
    let decoded: z.infer<typeof tokenPayloadSchema>;
    try {
      decoded = tokenPayloadSchema.parse(JSON.parse(Buffer.from(payload, "base64url").toString("utf8")));
    } catch {
      throw new UploadTokenError("the upload link is malformed");
    }
    if (decoded.expiresAt < this.now())
      throw new UploadTokenError(
        `the upload link expired at ${new Date(decoded.expiresAt).toISOString()}; create the job again`,
      );
    if (parseInputKey(decoded.key) === undefined) throw new UploadTokenError("the upload link names no input");
    return decoded.key;
  }

  private sign(payload: string): string {
    return createHmac("sha256", this.secret).update(payload).digest("base64url");
  }
}
