/**
 * The web console's build (console/build.ts): a page naming its content-hashed script and style sheet,
 * everything served by us (no CDN), and the bundle within its weight budget.
 */
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { buildConsole, buildConsoleSync } from "../../../console/build";

/** The budget for the console's script and styles, gzipped. */
const MAX_GZIPPED_BYTES = 200 * 1024;

describe("buildConsole", async () => {
  const files = await buildConsole();
  const page = new TextDecoder().decode(files.find((file) => file.path === "index.html")!.body);

  it("makes the page, one script and one style sheet, named by their content's hash", () => {
    const paths = files.map((file) => file.path);
    expect(paths).toHaveLength(3);
    expect(paths).toEqual(
      expect.arrayContaining([
        "index.html",
        expect.stringMatching(/^assets\/app-[A-Z0-9]{8}\.js$/),
        expect.stringMatching(/^assets\/app-[A-Z0-9]{8}\.css$/),
      ]),
    );
    for (const asset of files.filter((file) => file.path !== "index.html")) {
      expect(page).toContain(`"${asset.path}"`);
      expect(asset.immutable).toBe(true);
    }
    expect(files.find((file) => file.path === "index.html")!.immutable).toBe(false);
  });

  it("loads nothing from elsewhere: no absolute URL in the page, no import of one in the script", () => {
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
    const script = new TextDecoder().decode(files.find((file) => file.path.endsWith(".js"))!.body);
    expect(script).not.toMatch(/import\s*\(?\s*["']https?:/);
  });

  it(`stays under ${MAX_GZIPPED_BYTES / 1024} KB gzipped`, () => {
    const gzipped = files.reduce((total, file) => total + gzipSync(file.body).length, 0);
    const sizes = files.map((file) => `${file.path} ${file.body.length} B (${gzipSync(file.body).length} B gzipped)`);
    console.info(`web console: ${sizes.join(", ")}`);
    expect(gzipped).toBeLessThan(MAX_GZIPPED_BYTES);
  });

  it("builds the same files synchronously (the CDK app's bundling)", () => {
    expect(buildConsoleSync().map((file) => file.path)).toEqual(files.map((file) => file.path));
  });
});
