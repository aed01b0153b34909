/**
 * The web console in a real browser (Debian's Chromium driven by playwright-core) against `npm start`'s
 * entry as a process, with real images: drop two images and a corrupt file, watch the uploads and the job,
 * look at both results drawn, read a cell, move between images with the keyboard, download the job's CSV;
 * the page logs no error. A plate's folder picked through the folder picker, with the bucket served over
 * the S3 protocol (presigned uploads and downloads from the page): a 16-bit TIFF and a tiled image of
 * 2112 x 1040 drawn at 100 % exactly as the service's overlay draws them. Also the bearer token: asked once,
 * kept for the tab. Screenshots of the main views go to CONSOLE_SCREENSHOT_DIR (the README's are made this
 * way), else to a temporary folder.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { AwsV4Signer } from "aws4fetch";
import { chromium, type Browser, type Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSubmissionCsv } from "../../core/kaggle/csv";
import { decodeKaggleRle } from "../../core/masks/kaggle-rle";
import { CELL_TYPE_COLOURS } from "../../core/outputs/cell-type-colours";
import type { JobView } from "../../core/schemas/api";
import type { InstancesDocument } from "../../core/schemas/job-documents";
import { startModelServer, type ModelServer } from "../support/model-server";
import { REPO_ROOT, TRAIN_IMAGES } from "./helpers";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  // vitest shows a skipped test without its reason: say it, and how to have it run.
  console.warn(
    `web console tests skipped: no Chromium at ${CHROMIUM} (CHROMIUM_PATH). Install it with\n` +
      "  apt-get install -y chromium",
  );
}

// Two shsy5y images, a dense one and a sparse one: real images, read in place.
const DENSE_IMAGE = "0030fd0e6378";
const SPARSE_IMAGE = "2025512a5956";
const TOKEN = "console-test-token-0123456789";

interface Service {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: string[];
  stop(): Promise<void>;
}

/** `npm start`'s entry on a free port, using the test's model server; resolves with the console's URL it prints. */
async function startService(
  modelServerUrl: string,
  dataDirectory: string,
  env: Record<string, string> = {},
): Promise<Service> {
  const child = spawn(process.execPath, ["--import", "tsx", "functions/local/main.ts"], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORT: "0",
      MODEL_SERVER_URL: modelServerUrl,
      CELLSEG_DATA_DIR: dataDirectory,
      POWERTOOLS_LOG_LEVEL: "WARN",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (line) => output.push(line));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output.push(line);
      const printed = /^\s*web console\s+(http\S+)/.exec(line);
      if (printed) resolve(printed[1]!);
    });
    child.once("exit", (code) =>
      reject(new Error(`npm start exited (${code}) before printing the console's URL:\n${output.join("\n")}`)),
    );
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    url,
    child,
    output,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGINT");
      await exited;
    },
  };
}

/** The page's errors: console errors, uncaught exceptions, failed requests. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => message.type() === "error" && errors.push(`console: ${message.text()}`));
  page.on("pageerror", (error) => errors.push(`page: ${error.message}`));
  page.on("requestfailed", (request) => errors.push(`request: ${request.url()} ${request.failure()?.errorText}`));
  return errors;
}

/**
 * The few browser globals the page functions below use (the tests' TypeScript has Node's types, not the
 * DOM's; these functions run in the page).
 */
interface PageGlobals {
  DataTransfer: new () => { items: { add(file: unknown): void } };
  File: new (parts: Uint8Array[], name: string, options: { type: string }) => unknown;
  atob(base64: string): string;
  localStorage: { length: number };
  sessionStorage: Record<string, string>;
}
interface PageCanvas {
  width: number;
  height: number;
  toDataURL(type: "image/png"): string;
  getContext(kind: "2d"): {
    getImageData(x: number, y: number, width: number, height: number): { data: Uint8ClampedArray };
  };
}

/** Drops files on the upload zone as a user's drag and drop does: a `drop` event carrying them. */
async function dropFiles(page: Page, files: { name: string; bytes: Buffer; type: string }[]): Promise<void> {
  const transfer = await page.evaluateHandle(
    (payload) => {
      const page = globalThis as unknown as PageGlobals;
      const data = new page.DataTransfer();
      for (const file of payload)
        data.items.add(
          new page.File([Uint8Array.from(page.atob(file.base64), (c) => c.charCodeAt(0))], file.name, {
            type: file.type,
          }),
        );
      return data;
    },
    files.map((file) => ({ name: file.name, type: file.type, base64: file.bytes.toString("base64") })),
  );
  await page.dispatchEvent("[data-testid=upload-zone]", "drop", { dataTransfer: transfer });
}

/** A pixel inside the cell, in page coordinates of the canvas fitted to the image. */
async function cellPoint(page: Page, document: InstancesDocument, index: number): Promise<{ x: number; y: number }> {
  const mask = decodeKaggleRle(document.instances[index]!.rle, document.width, document.height);
  const inside = mask.data.indexOf(1);
  const x = mask.left + (inside % mask.width);
  const y = mask.top + Math.floor(inside / mask.width);
  const box = (await page.locator("[data-testid=result-canvas]").boundingBox())!;
  const scale = Math.min(box.width / document.width, box.height / document.height);
  return {
    x: box.x + (box.width - document.width * scale) / 2 + (x + 0.5) * scale,
    y: box.y + (box.height - document.height * scale) / 2 + (y + 0.5) * scale,
  };
}

/** Pixels of the canvas in a cell type's colour exactly: outlines drawn (a grey image has none). */
function typeColouredPixels(page: Page, colour: readonly number[]): Promise<number> {
  return page.locator("[data-testid=result-canvas]").evaluate((element, [r, g, b]) => {
    const canvas = element as unknown as PageCanvas;
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] === r && data[i + 1] === g && data[i + 2] === b) count++;
    return count;
  }, colour as number[]);
}

/**
 * A plate's folder as a microscope leaves it: a 16-bit TIFF (12-bit camera values), a mosaic larger than the
 * model's input in a sub-folder (3 x 2 mirrored copies of a training image: 2112 x 1040, tiled by the
 * service), a note and a hidden file.
 */
async function plateFolder(root: string): Promise<{ folder: string; mosaic: { width: number; height: number } }> {
  const folder = path.join(root, "plate-1");
  await mkdir(path.join(folder, "large"), { recursive: true });
  const grey = (id: string) =>
    sharp(path.join(TRAIN_IMAGES, `${id}.png`))
      .toColourspace("b-w")
      .raw()
      .toBuffer({ resolveWithObject: true });
  const dense = await grey(DENSE_IMAGE);
  const twelveBit = Uint16Array.from(dense.data, (value) => 200 + value * 12);
  // A Uint16Array's raw pixels are read as 16-bit.
  await sharp(twelveBit, { raw: { width: dense.info.width, height: dense.info.height, channels: 1 } })
    .toColourspace("grey16")
    .tiff({ compression: "lzw" })
    .toFile(path.join(folder, "A01.tif"));
  expect(await sharp(path.join(folder, "A01.tif")).metadata()).toMatchObject({
    format: "tiff",
    depth: "ushort",
    channels: 1,
  });
  const tile = await grey(SPARSE_IMAGE);
  const { width: tileWidth, height: tileHeight } = tile.info;
  const mosaic = { width: tileWidth * 3, height: tileHeight * 2 };
  const mirrored = (at: number, size: number) => (Math.floor(at / size) % 2 === 0 ? at % size : size - 1 - (at % size));
  const pixels = new Uint8Array(mosaic.width * mosaic.height);
  for (let y = 0; y < mosaic.height; y++) {
    for (let x = 0; x < mosaic.width; x++)
      pixels[y * mosaic.width + x] = tile.data[mirrored(y, tileHeight) * tileWidth + mirrored(x, tileWidth)]!;
  }
  await sharp(pixels, { raw: { ...mosaic, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toFile(path.join(folder, "large", "mosaic.png"));
  await writeFile(path.join(folder, "notes.txt"), "plate 1, 20x phase contrast\n");
  await writeFile(path.join(folder, ".DS_Store"), "");
  return { folder, mosaic };
}

/**
 * Checks that the viewer, at 100 %, shows exactly what the service's overlay shows (the image with each cell's
 * outline in its type's colour) wherever the canvas shows the image: the image, the outlines and the
 * service's own drawing aligned to the pixel. `expected` is where the image's top-left corner should be on
 * the canvas, give or take the pixel the page rounds to.
 */
async function expectOverlayDrawn(
  page: Page,
  overlayBytes: Buffer,
  expected: { x: number; y: number },
): Promise<number> {
  const overlay = await sharp(overlayBytes).raw().toBuffer({ resolveWithObject: true });
  const dataUrl = await page
    .locator("[data-testid=result-canvas]")
    .evaluate((element) => (element as unknown as PageCanvas).toDataURL("image/png"));
  const canvas = await sharp(Buffer.from(dataUrl.split(",")[1]!, "base64"))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const mismatches = (dx: number, dy: number) => {
    let compared = 0;
    let differing = 0;
    for (let cy = 0; cy < canvas.info.height; cy++) {
      const y = cy - dy;
      if (y < 0 || y >= overlay.info.height) continue;
      for (let cx = 0; cx < canvas.info.width; cx++) {
        const x = cx - dx;
        if (x < 0 || x >= overlay.info.width) continue;
        compared++;
        const c = (cy * canvas.info.width + cx) * 3;
        const o = (y * overlay.info.width + x) * overlay.info.channels;
        if (
          canvas.data[c] !== overlay.data[o] ||
          canvas.data[c + 1] !== overlay.data[o + 1] ||
          canvas.data[c + 2] !== overlay.data[o + 2]
        )
          differing++;
      }
    }
    return { compared, differing };
  };
  const offsets = [-1, 0, 1].flatMap((dy) =>
    [-1, 0, 1].map((dx) => ({ dx: Math.round(expected.x) + dx, dy: Math.round(expected.y) + dy })),
  );
  const best = offsets
    .map((offset) => ({ ...offset, ...mismatches(offset.dx, offset.dy) }))
    .sort((a, b) => a.differing - b.differing)[0]!;
  expect(best.compared).toBeGreaterThan(100_000);
  expect(best.differing).toBe(0);
  return best.compared;
}

describe.skipIf(!hasChromium)("web console in Chromium, against npm start", () => {
  let modelServer: ModelServer;
  let browser: Browser;
  let dataDirectory: string;
  let screenshots: string;
  const services: Service[] = [];

  beforeAll(async () => {
    modelServer = await startModelServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    dataDirectory = await mkdtemp(path.join(tmpdir(), "cellseg-console-"));
    screenshots = process.env.CONSOLE_SCREENSHOT_DIR
      ? path.resolve(process.env.CONSOLE_SCREENSHOT_DIR)
      : path.join(dataDirectory, "screenshots");
    await mkdir(screenshots, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    for (const service of services) await service.stop();
    await modelServer?.stop();
    if (dataDirectory) await rm(dataDirectory, { recursive: true, force: true });
  });

  it("uploads two images, a corrupt file and one whose upload is cut off: progress, both results drawn, " +
    "each failure's reason, the job's CSV", async () => {
    const service = await startService(modelServer.url, path.join(dataDirectory, "plain"));
    services.push(service);
    expect(service.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    const page = await context.newPage();
    const errors = watchErrors(page);
    // Uploads from this machine take milliseconds: hold each a moment so that its progress can be seen. One
    // upload's connection is cut: that file fails alone, and the job still finishes.
    const cutOff = Buffer.concat([await readFile(path.join(TRAIN_IMAGES, `${DENSE_IMAGE}.png`)), Buffer.alloc(7)]);
    let cutting = true;
    await page.route("**/v1/uploads/**", async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      if (cutting && route.request().postDataBuffer()?.length === cutOff.length) return route.abort("connectionreset");
      await route.continue();
    });
    await page.goto(service.url);
    await expect.poll(() => page.getByRole("heading", { name: "New job" }).isVisible()).toBe(true);

    const png = (id: string) => readFile(path.join(TRAIN_IMAGES, `${id}.png`));
    const truncated = (await png(DENSE_IMAGE)).subarray(0, 3000);
    await dropFiles(page, [
      { name: `${DENSE_IMAGE}.png`, bytes: await png(DENSE_IMAGE), type: "image/png" },
      { name: `${SPARSE_IMAGE}.png`, bytes: await png(SPARSE_IMAGE), type: "image/png" },
      { name: "broken.png", bytes: truncated, type: "image/png" },
      { name: "cut-off.png", bytes: cutOff, type: "image/png" },
    ]);

    // Progress: each file's upload has its bar while it is held.
    await expect.poll(() => page.locator("progress").count()).toBeGreaterThan(0);
    await expect.poll(() => page.locator("tr[data-state=uploading]").count()).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(screenshots, "console-uploading.png") });

    const rows = page.locator("table.files tbody tr");
    await expect.poll(() => rows.count()).toBe(4);
    await expect
      .poll(
        async () => [
          await page.locator("tr[data-state=done]").count(),
          await page.locator("tr[data-state=failed]").count(),
        ],
        { timeout: 240_000, interval: 1000 },
      )
      .toEqual([2, 2]);
    expect(await page.locator("tr", { hasText: "broken.png" }).locator("td.details").textContent()).toMatch(
      /Cannot read the PNG image/,
    );
    expect(await page.locator("tr", { hasText: "cut-off.png" }).locator("td.details").textContent()).toMatch(
      /the upload was cut off/,
    );
    const jobId = /#\/jobs\/([^/]+)/.exec(page.url())![1]!;
    let view = (await (await fetch(`${service.url}v1/jobs/${jobId}`)).json()) as JobView;
    expect(await page.locator(".badge.state-failed").first().textContent()).toBe("failed");
    await page.screenshot({ path: path.join(screenshots, "console-job.png"), fullPage: true });

    // Both results drawn: the cells' count, outlines in the type's colour, a cell under the pointer.
    for (const id of [DENSE_IMAGE, SPARSE_IMAGE]) {
      const image = view.files.find((file) => file.imageId === id)!;
      const document = (await (
        await fetch(`${service.url}${image.results!.json!.slice(1)}`)
      ).json()) as InstancesDocument;
      await page.getByRole("button", { name: `View ${image.fileName}` }).click();
      const canvas = page.locator("[data-testid=result-canvas]");
      await expect.poll(() => canvas.getAttribute("data-cells")).toBe(String(image.cells));
      expect(image.cells).toBeGreaterThan(0);
      expect(await typeColouredPixels(page, CELL_TYPE_COLOURS[document.instances[0]!.cellType])).toBeGreaterThan(100);
      const point = await cellPoint(page, document, 0);
      await page.mouse.move(point.x, point.y);
      const info = page.locator("[data-testid=cell-info]");
      await expect.poll(() => info.textContent()).toContain(`#${document.instances[0]!.id}`);
      expect(await info.textContent()).toContain(document.instances[0]!.score.toFixed(3));
      expect(await page.locator("[data-testid=type-counts]").textContent()).toContain(
        `${document.instances[0]!.cellType} ${image.cells}`,
      );
      if (id === DENSE_IMAGE)
        await page.locator(".viewer").screenshot({ path: path.join(screenshots, "console-viewer.png") });
    }

    // The keyboard moves between the job's images and toggles the fill.
    const title = page.locator("#viewer-title");
    const before = await title.textContent();
    await page.locator("[data-testid=result-canvas]").focus();
    await page.keyboard.press("ArrowRight");
    await expect.poll(() => title.textContent()).not.toBe(before);
    await page.keyboard.press("f");
    expect(await page.getByRole("checkbox", { name: "Fill" }).isChecked()).toBe(true);

    // The cut-off upload, tried again, goes through; the job then finishes.
    cutting = false;
    await page.getByRole("button", { name: "Retry upload of cut-off.png" }).click();
    await expect.poll(() => page.locator("tr[data-state=done]").count(), { timeout: 240_000, interval: 1000 }).toBe(3);
    view = (await (await fetch(`${service.url}v1/jobs/${jobId}`)).json()) as JobView;

    // The job's Kaggle CSV: every segmented image's cells, the corrupt file absent.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: /Job CSV/ }).click(),
    ]);
    const csv = parseSubmissionCsv(await readFile((await download.path())!));
    expect([...csv.keys()].sort()).toEqual([DENSE_IMAGE, SPARSE_IMAGE, "cut-off"].sort());
    for (const file of view.files.filter((f) => f.state === "succeeded"))
      expect(csv.get(file.imageId)?.annotations).toHaveLength(file.cells!);

    // After a reload the job is still listed, and opens.
    await page.reload();
    await page.getByRole("link", { name: /4 images/ }).click();
    await expect.poll(() => page.locator("tr[data-state=done]").count()).toBe(3);

    // The cut connection is the one failed request (Chromium also logs it).
    const cutUpload = (error: string) =>
      /^request: .*\/v1\/uploads\//.test(error) ||
      error === "console: Failed to load resource: net::ERR_CONNECTION_RESET";
    expect(errors.some(cutUpload)).toBe(true);
    expect(errors.filter((error) => !cutUpload(error))).toEqual([]);
    await page.unrouteAll({ behavior: "ignoreErrors" });
    await context.close();
  }, 360_000); // three images segmented one after another, on a CPU the rest of the suite shares

  it("a plate's folder picked, stored over the S3 protocol: nested names kept, " +
    "a 16-bit TIFF and a tiled 2112 x 1040 image drawn to the pixel as the overlay, zoomed and panned", async () => {
    const service = await startService(modelServer.url, path.join(dataDirectory, "s3"), {
      LOCAL_STORAGE: "s3rver",
      LOCAL_S3_PORT: "0",
    });
    services.push(service);
    const { folder, mosaic } = await plateFolder(path.join(dataDirectory, "picked"));
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    const page = await context.newPage();
    const errors = watchErrors(page);
    const uploads: string[] = [];
    page.on("request", (request) => request.method() === "PUT" && uploads.push(request.url()));
    // Opened as http://localhost:<port>/ rather than the address printed: the S3 server's CORS allows both.
    await page.goto(service.url.replace("127.0.0.1", "localhost"));

    // The folder picker (<input webkitdirectory>), as a user's pick of plate-1 fills it.
    await page.locator("input[webkitdirectory]").setInputFiles(folder);
    const rows = page.locator("table.files tbody tr");
    await expect.poll(() => rows.count()).toBe(2);
    expect(await page.getByRole("status").textContent()).toContain(
      "1 other file(s) left out (not PNG, TIFF or JPEG): plate-1/notes.txt.",
    );
    const jobId = /#\/jobs\/([^/]+)/.exec(page.url())![1]!;
    expect(new URL(page.url()).hostname).toBe("localhost");
    // Each file went straight to the S3 server through its presigned link, not through the API.
    expect(uploads.map((url) => new URL(url).pathname).sort()).toEqual([
      `/cellseg/input/${jobId}/plate-1/A01.tif`,
      `/cellseg/input/${jobId}/plate-1/large/mosaic.png`,
    ]);
    expect(uploads.every((url) => new URL(url).port !== new URL(service.url).port)).toBe(true);
    await expect
      .poll(() => page.locator("tr[data-state=done], tr[data-state=failed]").count(), {
        timeout: 300_000,
        interval: 1000,
      })
      .toBe(2);
    expect(await page.locator("tr[data-state=failed] td.details").allTextContents()).toEqual([]);
    const view = (await (await fetch(`${service.url}v1/jobs/${jobId}`)).json()) as JobView;
    expect(view.files.map((file) => [file.fileName, file.state])).toEqual([
      ["plate-1/A01.tif", "succeeded"],
      ["plate-1/large/mosaic.png", "succeeded"],
    ]);
    const large = view.files[1]!;
    expect([large.width, large.height, large.tiles! > 1]).toEqual([mosaic.width, mosaic.height, true]);
    const overlayOf = async (file: (typeof view.files)[number]) => {
      const link = (await (await fetch(`${service.url}${file.results!.overlay!.slice(1)}&as=link`)).json()) as {
        url: string;
        signed: boolean;
      };
      expect(link.signed).toBe(true);
      return Buffer.from(await (await fetch(link.url)).arrayBuffer());
    };
    const canvas = page.locator("[data-testid=result-canvas]");
    const frame = async () =>
      canvas.evaluate((element) => ({
        width: (element as unknown as PageCanvas).width,
        height: (element as unknown as PageCanvas).height,
      }));

    // The TIFF: the browser cannot draw it; the service's preview is drawn under the page's own outlines.
    await page.getByRole("button", { name: "View plate-1/A01.tif" }).click();
    await expect.poll(() => canvas.getAttribute("data-cells")).toBe(String(view.files[0]!.cells));
    expect(await page.locator(".cell-info .note").count()).toBe(0);
    await page.mouse.move(0, 0);
    await page.keyboard.press("1");
    let size = await frame();
    await expectOverlayDrawn(page, await overlayOf(view.files[0]!), {
      x: size.width / 2 - view.files[0]!.width! / 2,
      y: size.height / 2 - view.files[0]!.height! / 2,
    });
    const tiffColour = CELL_TYPE_COLOURS[view.files[0]!.cellType!];
    expect(await typeColouredPixels(page, tiffColour)).toBeGreaterThan(100);
    await page.keyboard.press("o");
    expect(await typeColouredPixels(page, tiffColour)).toBe(0);
    await page.keyboard.press("o");
    const [preview] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: /Image \(8-bit PNG\)/ }).click(),
    ]);
    expect(preview.suggestedFilename()).toBe("A01.preview.png");
    expect(await sharp((await preview.path())!).metadata()).toMatchObject({
      format: "png",
      width: 704,
      height: 520,
      channels: 1,
      depth: "uchar",
    });

    // The tiled image: wheel zoom and drag pan, then fit, 100 %, and a pan to its far corner, where the
    // outlines of the last tiles are to be found exactly where the overlay has them.
    await page.keyboard.press("ArrowRight");
    await expect.poll(() => canvas.getAttribute("data-cells")).toBe(String(large.cells));
    const box = (await canvas.boundingBox())!;
    await page.mouse.move(box.x + box.width / 3, box.y + box.height / 3);
    for (let step = 0; step < 8; step++) await page.mouse.wheel(0, -100);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 10 });
    await page.mouse.up();
    await page.mouse.move(0, 0);
    await page.keyboard.press("0");
    await page.keyboard.press("1");
    await expect.poll(() => page.locator(".toolbar").textContent()).toContain("100%");
    for (let step = 0; step < 11; step++) await page.keyboard.press("Shift+ArrowRight");
    for (let step = 0; step < 4; step++) await page.keyboard.press("Shift+ArrowDown");
    size = await frame();
    const compared = await expectOverlayDrawn(page, await overlayOf(large), {
      x: size.width / 2 - mosaic.width / 2 - 550,
      y: size.height / 2 - mosaic.height / 2 - 200,
    });
    await page.locator(".viewer").screenshot({ path: path.join(screenshots, "console-viewer-large.png") });
    const memory = await page.evaluate(
      () =>
        (globalThis as unknown as { performance: { memory: { usedJSHeapSize: number } } }).performance.memory
          .usedJSHeapSize,
    );
    console.log(
      `tiled image ${mosaic.width} x ${mosaic.height} (${large.tiles} tiles, ${large.cells} cells): ` +
        `${compared} pixels match the overlay at 100 %; page's JS heap ${(memory / 2 ** 20).toFixed(1)} MiB`,
    );

    expect(errors).toEqual([]);
    await context.close();
  }, 420_000); // a 12-tile image and a small one segmented on a shared CPU

  it("asks for API_TOKEN once when the service needs it, and keeps it until the tab closes", async () => {
    const service = await startService(modelServer.url, path.join(dataDirectory, "token"), { API_TOKEN: TOKEN });
    services.push(service);
    const context = await browser.newContext();
    const page = await context.newPage();
    const asked: string[] = [];
    page.on(
      "request",
      (request) => request.url().includes("/v1/jobs") && asked.push(request.headers().authorization ?? "none"),
    );
    await page.goto(service.url);

    await dropFiles(page, [
      {
        name: `${DENSE_IMAGE}.png`,
        bytes: await readFile(path.join(TRAIN_IMAGES, `${DENSE_IMAGE}.png`)),
        type: "image/png",
      },
    ]);
    const dialog = page.getByRole("dialog", { name: "Access token" });
    await expect.poll(() => dialog.isVisible()).toBe(true);
    await page.getByLabel("Token", { exact: true }).fill("a-wrong-token-of-16-chars");
    await page.getByRole("button", { name: "Continue" }).click();
    await expect.poll(() => dialog.textContent()).toContain("refused");
    await page.getByLabel("Token", { exact: true }).fill(TOKEN);
    await page.getByRole("button", { name: "Continue" }).click();
    await expect.poll(() => page.locator("table.files tbody tr").count()).toBe(1);

    // A reload keeps the token for the tab: no question again.
    await page.reload();
    await expect.poll(() => page.locator("table.files tbody tr").count()).toBe(1);
    expect(await dialog.isVisible()).toBe(false);
    expect(asked.at(-1)).toBe(`Bearer ${TOKEN}`);
    expect(
      await page.evaluate(() => {
        const { localStorage, sessionStorage } = globalThis as unknown as PageGlobals;
        return [localStorage.length, Object.keys(sessionStorage)];
      }),
    ).toEqual([1, ["cellseg.apiToken"]]);
    await context.close();
  });
  it(
    "in AWS's shape: signs in through the user pool's hosted page (PKCE), " +
      "gets the identity pool's credentials and signs every API request with them (SigV4)",
    async () => {
      // AWS is not reachable from here: the hosted page, the token endpoint and the identity pool are played by
      // the test, as AWS documents them; the API calls are checked for a valid signature, then served by npm start.
      const service = services[0] ?? (await startService(modelServer.url, path.join(dataDirectory, "cognito")));
      if (!services.includes(service)) services.push(service);
      const region = "eu-west-1";
      const signInUrl = "https://cellseg-test.auth.eu-west-1.amazoncognito.com";
      const apiUrl = "https://api-id.execute-api.eu-west-1.amazonaws.com/prod/";
      const credentials = {
        AccessKeyId: "ASIATESTACCESSKEY",
        SecretKey: "test-secret-key",
        SessionToken: "test-session-token",
        Expiration: Date.now() / 1000 + 3600,
      };
      const idToken = ["{}", JSON.stringify({ email: "scientist@example.com" }), "signature"]
        .map((part) => Buffer.from(part).toString("base64url"))
        .join(".");
      const config = {
        apiUrl,
        auth: {
          kind: "cognito",
          region,
          userPoolId: "eu-west-1_pool",
          userPoolClientId: "console-client",
          identityPoolId: "eu-west-1:identities",
          signInUrl,
        },
      };
      // The local page's policy allows its own origin only; the deployed one names AWS's hosts
      // (web-console.test.ts in test/infra).
      const context = await browser.newContext({ bypassCSP: true });
      const page = await context.newPage();
      const errors = watchErrors(page);
      const cors = {
        "access-control-allow-origin": "*",
        "access-control-allow-headers": "*",
        "access-control-allow-methods": "GET, POST, PUT",
      };
      let challenge = "";
      const signatures: string[] = [];
      await page.route(`${service.url}config.json`, (route) => route.fulfill({ json: config }));
      await page.route(`${signInUrl}/**`, async (route) => {
        const url = new URL(route.request().url());
        if (url.pathname === "/oauth2/authorize") {
          expect(Object.fromEntries(url.searchParams)).toMatchObject({
            response_type: "code",
            client_id: "console-client",
            redirect_uri: service.url,
            code_challenge_method: "S256",
          });
          challenge = url.searchParams.get("code_challenge")!;
          return route.fulfill({
            status: 302,
            headers: { location: `${service.url}?code=the-code&state=${url.searchParams.get("state")}` },
          });
        }
        if (route.request().method() === "OPTIONS") return route.fulfill({ status: 204, headers: cors });
        const form = new URLSearchParams(route.request().postData() ?? "");
        expect(Object.fromEntries(form)).toMatchObject({
          grant_type: "authorization_code",
          code: "the-code",
          client_id: "console-client",
          redirect_uri: service.url,
        });
        expect(createHash("sha256").update(form.get("code_verifier")!).digest("base64url")).toBe(challenge);
        return route.fulfill({
          headers: cors,
          json: { id_token: idToken, refresh_token: "refresh", expires_in: 3600 },
        });
      });
      await page.route(`https://cognito-identity.${region}.amazonaws.com/`, async (route) => {
        if (route.request().method() === "OPTIONS") return route.fulfill({ status: 204, headers: cors });
        const body = JSON.parse(route.request().postData()!) as {
          Logins: Record<string, string>;
          IdentityPoolId?: string;
        };
        expect(body.Logins).toEqual({ [`cognito-idp.${region}.amazonaws.com/eu-west-1_pool`]: idToken });
        const action = route.request().headers()["x-amz-target"];
        if (action === "AWSCognitoIdentityService.GetId") {
          expect(body.IdentityPoolId).toBe("eu-west-1:identities");
          return route.fulfill({ headers: cors, json: { IdentityId: "eu-west-1:user" } });
        }
        expect(action).toBe("AWSCognitoIdentityService.GetCredentialsForIdentity");
        return route.fulfill({ headers: cors, json: { IdentityId: "eu-west-1:user", Credentials: credentials } });
      });
      await page.route(`${apiUrl}**`, async (route) => {
        const request = route.request();
        if (request.method() === "OPTIONS") return route.fulfill({ status: 204, headers: cors });
        const headers = request.headers();
        const signedHeaders = /SignedHeaders=([^,]+)/.exec(headers.authorization ?? "")?.[1]?.split(";") ?? [];
        const expected = await new AwsV4Signer({
          method: request.method(),
          url: request.url(),
          headers: Object.fromEntries(
            signedHeaders.filter((name) => name !== "host").map((name) => [name, headers[name]!]),
          ),
          body: request.postData() ?? null,
          accessKeyId: credentials.AccessKeyId,
          secretAccessKey: credentials.SecretKey,
          sessionToken: credentials.SessionToken,
          service: "execute-api",
          region,
          datetime: headers["x-amz-date"]!,
        }).sign();
        expect(headers.authorization).toBe(expected.headers.get("authorization"));
        signatures.push(`${request.method()} ${new URL(request.url()).pathname}`);
        const answer = await route.fetch({ url: request.url().replace(apiUrl, service.url) });
        return route.fulfill({ response: answer, headers: { ...answer.headers(), ...cors } });
      });

      await page.goto(service.url);
      await page.getByRole("button", { name: "Sign in" }).click();
      await expect.poll(() => page.getByText("scientist@example.com").isVisible()).toBe(true);
      expect(page.url()).toBe(service.url);
      await dropFiles(page, [
        {
          name: `${DENSE_IMAGE}.png`,
          bytes: await readFile(path.join(TRAIN_IMAGES, `${DENSE_IMAGE}.png`)),
          type: "image/png",
        },
      ]);
      await expect.poll(() => page.locator("table.files tbody tr").count()).toBe(1);
      await expect.poll(() => signatures.some((call) => /^GET \/prod\/v1\/jobs\//.test(call))).toBe(true);
      expect(signatures[0]).toBe("POST /prod/v1/jobs");
      expect(errors).toEqual([]);
      // The page keeps reading the job: let the calls in flight end before the browser context goes.
      await page.unrouteAll({ behavior: "ignoreErrors" });
      await context.close();
    },
  );
});
