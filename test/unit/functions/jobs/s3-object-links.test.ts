import { describe, expect, it } from "vitest";
import { contentDisposition } from "../../../../functions/jobs/s3-object-links";

/** The value of one parameter of a Content-Disposition header. */
function parameter(header: string, name: string): string | undefined {
  return header
    .split(/;\s*/)
    .find((part) => part.startsWith(`${name}=`))
    ?.slice(name.length + 1);
}

describe("contentDisposition", () => {
  it("gives an ASCII name as it is, both plain and encoded", () => {
    expect(contentDisposition("A01.coco.json")).toBe(
      `attachment; filename="A01.coco.json"; filename*=UTF-8''A01.coco.json`,
    );
  });

  it("replaces non-ASCII characters in the plain name and keeps them, UTF-8 encoded, in filename*", () => {
    // Act
    const header = contentDisposition("Zellen-Ø 5µm 細胞.csv");

    // Assess
    expect(parameter(header, "filename")).toBe(`"Zellen-_ 5_m __.csv"`);
    expect(parameter(header, "filename*")).toBe("UTF-8''Zellen-%C3%98%205%C2%B5m%20%E7%B4%B0%E8%83%9E.csv");
    const encodedName = parameter(header, "filename*")!.slice("UTF-8''".length);
    expect(decodeURIComponent(encodedName)).toBe("Zellen-Ø 5µm 細胞.csv");
  });

  it("cannot be broken out of by quotes or backslashes in the name", () => {
    // Act
    const header = contentDisposition(`a"b\\c.png`);

    // Assess: the quoted string holds no quote or backslash of the name, so it ends where it should.
    expect(parameter(header, "filename")).toBe(`"a_b_c.png"`);
    expect(parameter(header, "filename*")).toBe("UTF-8''a%22b%5Cc.png");
    expect(header.match(/"/g)).toHaveLength(2);
  });

  it("is a valid header value (Latin-1 only) for any name", () => {
    // Act & Assess: Headers refuses values it cannot send.
    const headers = new Headers();
    expect(() => headers.set("Content-Disposition", contentDisposition('🦠 ÄÖÜ "x".png'))).not.toThrow();
    expect(headers.get("Content-Disposition")).toMatch(
      /^attachment; filename="[\x20-\x7e]*"; filename\*=UTF-8''[\x21-\x7e]*$/,
    );
  });

  // RFC 8187 §3.2.1: value-chars are pct-encoded or attr-char, and attr-char excludes ' ( ) *, which
  // encodeURIComponent leaves as they are: "cell's (2).png" gives filename*=UTF-8''cell's%20(2).png.
  it("percent-encodes the characters RFC 8187 does not allow in filename* (' ( ) *)", () => {
    // Act
    const header = contentDisposition("cell's (2)*.png");

    // Assess
    expect(parameter(header, "filename*")).toBe("UTF-8''cell%27s%20%282%29%2A.png");
  });
});
