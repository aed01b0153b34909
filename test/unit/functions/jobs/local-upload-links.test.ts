import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { LocalUploadLinks } from "../../../../functions/jobs/local-upload-links";
import { UploadTokenError } from "../../../../functions/jobs/errors";

const BASE = "http://localhost:3000";
const SECRET = new Uint8Array(32).fill(7);
const KEY = "input/job-1/plate 1/A01.tif";

/** The token at the end of an upload URL. */
async function tokenFor(links: LocalUploadLinks, key = KEY, ttlSeconds = 60): Promise<string> {
  const { url } = await links.upload(key, ttlSeconds);
  expect(url.startsWith(`${BASE}/v1/uploads/`)).toBe(true);
  return url.slice(`${BASE}/v1/uploads/`.length);
}

/** The same characters with the one at `index` replaced by another base64url character. */
function alter(text: string, index: number): string {
  const replacement = text[index] === "A" ? "B" : "A";
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

function verifyError(links: LocalUploadLinks, token: string): unknown {
  try {
    links.verify(token);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("LocalUploadLinks", () => {
  it("makes upload links whose token verifies back to the key", async () => {
    // Prepare
    const links = new LocalUploadLinks(BASE, SECRET);

    // Act
    const link = await links.upload(KEY, 60);
    const key = links.verify(link.url.slice(`${BASE}/v1/uploads/`.length));

    // Assess
    expect(key).toBe(KEY);
    expect(link.headers).toEqual({});
    expect(link.url).toMatch(/^http:\/\/localhost:3000\/v1\/uploads\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  it("has no download links: the API serves results itself", async () => {
    const links = new LocalUploadLinks(BASE, SECRET);

    expect(await links.download()).toBeUndefined();
  });

  it("refuses a token whose payload was altered", async () => {
    // Prepare: the payload says another key, the signature is the original one.
    const links = new LocalUploadLinks(BASE, SECRET);
    const [, signature] = (await tokenFor(links)).split(".");
    const forgedPayload = Buffer.from(
      JSON.stringify({ key: "input/job-2/x.png", expiresAt: Date.now() + 60_000 }),
    ).toString("base64url");

    // Act
    const error = verifyError(links, `${forgedPayload}.${signature}`);

    // Assess
    expect(error).toBeInstanceOf(UploadTokenError);
    expect(error).toMatchObject({ code: "invalid_upload_token", message: expect.stringMatching(/signature/) });
  });

  it("refuses a token whose payload lost or changed one character", async () => {
    const links = new LocalUploadLinks(BASE, SECRET);
    const token = await tokenFor(links);

    expect(verifyError(links, alter(token, 3))).toBeInstanceOf(UploadTokenError);
    expect(verifyError(links, token.slice(1))).toBeInstanceOf(UploadTokenError);
  });

  it("refuses a token whose signature was altered, shortened or lengthened", async () => {
    // Prepare
    const links = new LocalUploadLinks(BASE, SECRET);
    const [payload, signature] = (await tokenFor(links)).split(".") as [string, string];

    // Act & Assess
    expect(verifyError(links, `${payload}.${alter(signature, 0)}`)).toBeInstanceOf(UploadTokenError);
    expect(verifyError(links, `${payload}.${signature.slice(0, -4)}`)).toBeInstanceOf(UploadTokenError);
    expect(verifyError(links, `${payload}.${signature}AAAA`)).toBeInstanceOf(UploadTokenError);
  });

  it.each([["no-dot-at-all"], ["payload."], [".signature"], ["a.b.c"], [""]])(
    "refuses the malformed token %j",
    (token) => {
      const links = new LocalUploadLinks(BASE, SECRET);

      expect(verifyError(links, token)).toBeInstanceOf(UploadTokenError);
    },
  );

  it("refuses a signed payload that is not a token's JSON", () => {
    // Prepare: signed as the class documents (HMAC-SHA256 of the payload, with the secret), not made by upload().
    const links = new LocalUploadLinks(BASE, SECRET);
    const payload = Buffer.from("not json").toString("base64url");
    const signature = createHmac("sha256", SECRET).update(payload).digest("base64url");

    // Act & Assess
    expect(verifyError(links, `${payload}.${signature}`)).toMatchObject({
      name: "UploadTokenError",
      message: "the upload link is malformed",
    });
  });

  it("refuses a token once it has expired", async () => {
    // Prepare
    let now = 1_700_000_000_000;
    const links = new LocalUploadLinks(BASE, SECRET, () => now);
    const token = await tokenFor(links, KEY, 60);

    // Act & Assess: valid up to its last millisecond, refused after.
    now += 60_000;
    expect(links.verify(token)).toBe(KEY);
    now += 1;
    const error = verifyError(links, token);
    expect(error).toBeInstanceOf(UploadTokenError);
    expect((error as Error).message).toMatch(/expired at 2023-11-14T22:14:20\.000Z/);
  });

  it("refuses a token made with another secret", async () => {
    // Prepare
    const theirs = new LocalUploadLinks(BASE, new Uint8Array(32).fill(8));
    const ours = new LocalUploadLinks(BASE, SECRET);

    // Act
    const error = verifyError(ours, await tokenFor(theirs));

    // Assess
    expect(error).toBeInstanceOf(UploadTokenError);
  });

  it("refuses tokens made by another process (a random secret each)", async () => {
    const first = new LocalUploadLinks(BASE);
    const second = new LocalUploadLinks(BASE);

    expect(verifyError(second, await tokenFor(first))).toBeInstanceOf(UploadTokenError);
  });

  it.each([
    ["output/job-1/a.png/status.json"],
    ["jobs/job-1/job.json"],
    ["input/a.png"],
    ["input/job-1/../x.png"],
    ["input/-bad/a.png"],
  ])("refuses a validly signed token for %s, which is no input key", async (key) => {
    // Prepare
    const links = new LocalUploadLinks(BASE, SECRET);

    // Act
    const error = verifyError(links, await tokenFor(links, key));

    // Assess
    expect(error).toBeInstanceOf(UploadTokenError);
    expect((error as Error).message).toBe("the upload link names no input");
  });
});
