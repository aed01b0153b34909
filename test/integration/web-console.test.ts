/**
 * The web console in a real browser (Debian's Chromium driven by playwright-core) against `npm start`'s
 * entry as a process, with real images: drop two images and a corrupt file, watch the uploads and the job,
 * look at both results drawn, read a cell, move between images with the keyboard, download the job's CSV;
 * the page logs no error. Also the bearer token: asked once, kept for the tab. Screenshots of the main
 * views go to CONSOLE_SCREENSHOT_DIR (the README's are made this way), else to a temporary folder.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { AwsV4Signer } from "aws4fetch";
import { chromium, type Browser, type Page } from "playwright-core";
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
  console.warn(`web console tests skipped: no Chromium at ${CHROMIUM} (CHROMIUM_PATH). Install it with\n  apt-get install -y chromium`);
}

// A sparse cort image and a dense shsy5y one: real images, read in place.
const CORT_IMAGE = "0030fd0e6378";
const SHSY5Y_IMAGE = "2025512a5956";
const TOKEN = "console-test-token-0123456789";

interface Service {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: string[];
  stop(): Promise<void>;
}

/** `npm start`'s entry on a free port, using the test's model server; resolves with the console's URL it prints. */
async function startService(modelServerUrl: string, dataDirectory: string, env: Record<string, string> = {}): Promise<Service> {
  const child = spawn(process.execPath, ["--import", "tsx", "functions/local/main.ts"], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: "0", MODEL_SERVER_URL: modelServerUrl, CELLSEG_DATA_DIR: dataDirectory, POWERTOOLS_LOG_LEVEL: "WARN", ...env },
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
    child.once("exit", (code) => reject(new Error(`npm start exited (${code}) before printing the console's URL:\n${output.join("\n")}`)));
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
  getContext(kind: "2d"): { getImageData(x: number, y: number, width: number, height: number): { data: Uint8ClampedArray } };
}

/** Drops files on the upload zone as a user's drag and drop does: a `drop` event carrying them. */
async function dropFiles(page: Page, files: { name: string; bytes: Buffer; type: string }[]): Promise<void> {
  const transfer = await page.evaluateHandle((payload) => {
    const page = globalThis as unknown as PageGlobals;
    const data = new page.DataTransfer();
    for (const file of payload) data.items.add(new page.File([Uint8Array.from(page.atob(file.base64), (c) => c.charCodeAt(0))], file.name, { type: file.type }));
    return data;
  }, files.map((file) => ({ name: file.name, type: file.type, base64: file.bytes.toString("base64") })));
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
  return { x: box.x + (box.width - document.width * scale) / 2 + (x + 0.5) * scale, y: box.y + (box.height - document.height * scale) / 2 + (y + 0.5) * scale };
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
    screenshots = process.env.CONSOLE_SCREENSHOT_DIR ? path.resolve(process.env.CONSOLE_SCREENSHOT_DIR) : path.join(dataDirectory, "screenshots");
    await mkdir(screenshots, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    for (const service of services) await service.stop();
    await modelServer?.stop();
    if (dataDirectory) await rm(dataDirectory, { recursive: true, force: true });
  });

  it("uploads two images, a corrupt file and one whose upload is cut off: progress, both results drawn, each failure's reason, the job's CSV", async () => {
    const service = await startService(modelServer.url, path.join(dataDirectory, "plain"));
    services.push(service);
    expect(service.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    const page = await context.newPage();
    const errors = watchErrors(page);
    // Uploads from this machine take milliseconds: hold each a moment so that its progress can be seen. One
    // upload's connection is cut: that file fails alone, and the job still finishes.
    const cutOff = Buffer.concat([await readFile(path.join(TRAIN_IMAGES, `${CORT_IMAGE}.png`)), Buffer.alloc(7)]);
    let cutting = true;
    await page.route("**/v1/uploads/**", async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      if (cutting && route.request().postDataBuffer()?.length === cutOff.length) return route.abort("connectionreset");
      await route.continue();
    });
    await page.goto(service.url);
    await expect.poll(() => page.getByRole("heading", { name: "New job" }).isVisible()).toBe(true);

    const png = (id: string) => readFile(path.join(TRAIN_IMAGES, `${id}.png`));
    const truncated = (await png(CORT_IMAGE)).subarray(0, 3000);
    await dropFiles(page, [
      { name: `${CORT_IMAGE}.png`, bytes: await png(CORT_IMAGE), type: "image/png" },
      { name: `${SHSY5Y_IMAGE}.png`, bytes: await png(SHSY5Y_IMAGE), type: "image/png" },
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
      .poll(async () => [await page.locator("tr[data-state=done]").count(), await page.locator("tr[data-state=failed]").count()], { timeout: 240_000, interval: 1000 })
      .toEqual([2, 2]);
    expect(await page.locator("tr", { hasText: "broken.png" }).locator("td.details").textContent()).toMatch(/Cannot read the PNG image/);
    expect(await page.locator("tr", { hasText: "cut-off.png" }).locator("td.details").textContent()).toMatch(/the upload was cut off/);
    const jobId = /#\/jobs\/([^/]+)/.exec(page.url())![1]!;
    let view = (await (await fetch(`${service.url}v1/jobs/${jobId}`)).json()) as JobView;
    expect(await page.locator(".badge.state-failed").first().textContent()).toBe("failed");
    await page.screenshot({ path: path.join(screenshots, "console-job.png"), fullPage: true });

    // Both results drawn: the cells' count, outlines in the type's colour, a cell under the pointer.
    for (const id of [CORT_IMAGE, SHSY5Y_IMAGE]) {
      const image = view.files.find((file) => file.imageId === id)!;
      const document = (await (await fetch(`${service.url}${image.results!.json!.slice(1)}`)).json()) as InstancesDocument;
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
      expect(await page.locator("[data-testid=type-counts]").textContent()).toContain(`${document.instances[0]!.cellType} ${image.cells}`);
      if (id === CORT_IMAGE) await page.locator(".viewer").screenshot({ path: path.join(screenshots, "console-viewer.png") });
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
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: /Job CSV/ }).click()]);
    const csv = parseSubmissionCsv(await readFile((await download.path())!));
    expect([...csv.keys()].sort()).toEqual([CORT_IMAGE, SHSY5Y_IMAGE, "cut-off"].sort());
    for (const file of view.files.filter((f) => f.state === "succeeded")) expect(csv.get(file.imageId)?.annotations).toHaveLength(file.cells!);

    // After a reload the job is still listed, and opens.
    await page.reload();
    await page.getByRole("link", { name: /4 images/ }).click();
    await expect.poll(() => page.locator("tr[data-state=done]").count()).toBe(3);

    // The cut connection is the one failed request (Chromium also logs it).
    const cutUpload = (error: string) => /^request: .*\/v1\/uploads\//.test(error) || error === "console: Failed to load resource: net::ERR_CONNECTION_RESET";
    expect(errors.some(cutUpload)).toBe(true);
    expect(errors.filter((error) => !cutUpload(error))).toEqual([]);
    await page.unrouteAll({ behavior: "ignoreErrors" });
    await context.close();
  }, 360_000); // three images segmented one after another, on a CPU the rest of the suite shares

  it("asks for API_TOKEN once when the service needs it, and keeps it until the tab closes", async () => {
    const service = await startService(modelServer.url, path.join(dataDirectory, "token"), { API_TOKEN: TOKEN });
    services.push(service);
    const context = await browser.newContext();
    const page = await context.newPage();
    const asked: string[] = [];
    page.on("request", (request) => request.url().includes("/v1/jobs") && asked.push(request.headers().authorization ?? "none"));
    await page.goto(service.url);

    await dropFiles(page, [{ name: `${CORT_IMAGE}.png`, bytes: await readFile(path.join(TRAIN_IMAGES, `${CORT_IMAGE}.png`)), type: "image/png" }]);
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
  it("in AWS's shape: signs in through the user pool's hosted page (PKCE), gets the identity pool's credentials and signs every API request with them (SigV4)", async () => {
    // AWS is not reachable from here: the hosted page, the token endpoint and the identity pool are played by
    // the test, as AWS documents them; the API calls are checked for a valid signature, then served by npm start.
    const service = services[0] ?? (await startService(modelServer.url, path.join(dataDirectory, "cognito")));
    if (!services.includes(service)) services.push(service);
    const region = "eu-west-1";
    const signInUrl = "https://cellseg-test.auth.eu-west-1.amazoncognito.com";
    const apiUrl = "https://api-id.execute-api.eu-west-1.amazonaws.com/prod/";
    const credentials = { AccessKeyId: "ASIATESTACCESSKEY", SecretKey: "test-secret-key", SessionToken: "test-session-token", Expiration: Date.now() / 1000 + 3600 };
    const idToken = ["{}", JSON.stringify({ email: "scientist@example.com" }), "signature"].map((part) => Buffer.from(part).toString("base64url")).join(".");
    const config = {
      apiUrl,
      auth: { kind: "cognito", region, userPoolId: "eu-west-1_pool", userPoolClientId: "console-client", identityPoolId: "eu-west-1:identities", signInUrl },
    };
    // The local page's policy allows its own origin only; the deployed one names AWS's hosts (web-console.test.ts in test/infra).
    const context = await browser.newContext({ bypassCSP: true });
    const page = await context.newPage();
    const errors = watchErrors(page);
    const cors = { "access-control-allow-origin": "*", "access-control-allow-headers": "*", "access-control-allow-methods": "GET, POST, PUT" };
    let challenge = "";
    const signatures: string[] = [];
    await page.route(`${service.url}config.json`, (route) => route.fulfill({ json: config }));
    await page.route(`${signInUrl}/**`, async (route) => {
      const url = new URL(route.request().url());
      if (url.pathname === "/oauth2/authorize") {
        expect(Object.fromEntries(url.searchParams)).toMatchObject({ response_type: "code", client_id: "console-client", redirect_uri: service.url, code_challenge_method: "S256" });
        challenge = url.searchParams.get("code_challenge")!;
        return route.fulfill({ status: 302, headers: { location: `${service.url}?code=the-code&state=${url.searchParams.get("state")}` } });
      }
      if (route.request().method() === "OPTIONS") return route.fulfill({ status: 204, headers: cors });
      const form = new URLSearchParams(route.request().postData() ?? "");
      expect(Object.fromEntries(form)).toMatchObject({ grant_type: "authorization_code", code: "the-code", client_id: "console-client", redirect_uri: service.url });
      expect(createHash("sha256").update(form.get("code_verifier")!).digest("base64url")).toBe(challenge);
      return route.fulfill({ headers: cors, json: { id_token: idToken, refresh_token: "refresh", expires_in: 3600 } });
    });
    await page.route(`https://cognito-identity.${region}.amazonaws.com/`, async (route) => {
      if (route.request().method() === "OPTIONS") return route.fulfill({ status: 204, headers: cors });
      const body = JSON.parse(route.request().postData()!) as { Logins: Record<string, string>; IdentityPoolId?: string };
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
        headers: Object.fromEntries(signedHeaders.filter((name) => name !== "host").map((name) => [name, headers[name]!])),
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
    await dropFiles(page, [{ name: `${CORT_IMAGE}.png`, bytes: await readFile(path.join(TRAIN_IMAGES, `${CORT_IMAGE}.png`)), type: "image/png" }]);
    await expect.poll(() => page.locator("table.files tbody tr").count()).toBe(1);
    await expect.poll(() => signatures.some((call) => /^GET \/prod\/v1\/jobs\//.test(call))).toBe(true);
    expect(signatures[0]).toBe("POST /prod/v1/jobs");
    expect(errors).toEqual([]);
    // The page keeps reading the job: let the calls in flight end before the browser context goes.
    await page.unrouteAll({ behavior: "ignoreErrors" });
    await context.close();
  });
});
