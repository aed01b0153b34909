/**
 * The local service the hard way, against `npm start` as a user runs it (the real API, worker, folder
 * bucket and model server, on a model-server port that stays the same across restarts): names no storage
 * can hold, 4 concurrent uploads of 200 MiB, the service killed mid-image and started again (twice), and
 * hundreds of uploads into new sub-folders from 4 clients at once. It ends by printing the figures the
 * README quotes: faults injected and survived, uploads sent and lost, the service's peak memory.
 * `npm run test:reliability` runs it alone; `npm test` runs it with the rest.
 */
import { createServer, type AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { readMemory } from "../../bench/process-memory";
import { apiErrorSchema, createJobResponseSchema, jobViewSchema, type CreateJobResponse } from "../../core/schemas/api";
import { jobStatusSchema } from "../../core/schemas/job-documents";
import { TRAIN_IMAGES } from "../integration/helpers";
import { pngClaiming } from "../support/forged-png";
import { finishedJob, json, startLocalService, type LocalService } from "../support/local-service";

const MIB = 1024 * 1024;
/** A sparse cort image: one tile, a few seconds of inference on one thread. */
const CORT_IMAGE = path.join(TRAIN_IMAGES, "0030fd0e6378.png");
const CRASHES = 2;
const BIG_UPLOADS = 4;
const BIG_UPLOAD_BYTES = 200 * MIB;
const CLIENTS = 4;
const FILES_PER_CLIENT = 100;

/** What the summary reports. */
const figures = {
  faultsInjected: 0,
  faultsSurvived: 0,
  uploadsSent: 0,
  uploadsAccounted: 0,
  /** Of the many uploads into new folders: segmented before the stop, and waiting in the queue at the stop. */
  manySegmented: 0,
  manyQueued: 0,
  rssBeforeBigUploadsMiB: 0,
  peakRssDuringBigUploadsMiB: 0,
  peakRssUntilRefusedMiB: 0,
};

/** Counts a fault as injected, and as survived when `check` (what the service must do about it) passes. */
async function fault(check: () => Promise<void>): Promise<void> {
  figures.faultsInjected++;
  await check();
  figures.faultsSurvived++;
}

/** Whether a process exists and is not a zombie (a killed orphan may wait for a parent that never reaps it). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `size` bytes made as they are sent: `head`, then zeros. */
function generatedBody(head: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const zeros = new Uint8Array(MIB);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      const chunk = sent === 0 ? head : zeros.subarray(0, Math.min(MIB, size - sent));
      if (chunk.length === 0) return controller.close();
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
}

describe("the local service under faults (npm start, restarted on the same ports)", () => {
  let dataDirectory: string;
  let env: Record<string, string>;
  let service: LocalService;
  /** A 352x260 crop of a real image: cells to find, in one tile. */
  let smallPng: Buffer;
  const api = () => service.ready.apiUrl;
  const createJob = async (body: unknown): Promise<CreateJobResponse> =>
    json(
      await fetch(`${api()}/v1/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
      createJobResponseSchema,
    );
  const upload = async (
    target: { url: string; headers: Record<string, string> },
    body: Buffer | ReadableStream<Uint8Array>,
  ) => {
    figures.uploadsSent++;
    const response = await fetch(target.url, {
      method: "PUT",
      headers: target.headers,
      body,
      ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
    } as RequestInit);
    expect(response.status, await response.clone().text()).toBe(200);
    return (await response.json()) as { key: string; size: number };
  };
  const deadLetters = async () => readdir(path.join(dataDirectory, "dead-letter")).catch(() => []);

  beforeAll(async () => {
    dataDirectory = await mkdtemp(path.join(tmpdir(), "cellseg-reliability-"));
    // One model-server port for every start, as `npm start`'s default 8080 is: a server left behind by a killed
    // service would keep it, and the next start could not listen there.
    env = { MODEL_SERVER_PORT: String(await freePort()) };
    smallPng = await sharp(CORT_IMAGE).extract({ left: 0, top: 0, width: 352, height: 260 }).png().toBuffer();
    service = await startLocalService(dataDirectory, env);
  });

  afterAll(async () => {
    if (service && service.child.exitCode === null) service.child.kill("SIGKILL");
    if (service && running(service.ready.modelServerPid)) process.kill(service.ready.modelServerPid, "SIGKILL");
    await rm(dataDirectory, { recursive: true, force: true });
    const lost = figures.uploadsSent - figures.uploadsAccounted;
    console.log(
      [
        "local service reliability:",
        `  faults injected ${figures.faultsInjected}, survived ${figures.faultsSurvived}`,
        `  uploads sent ${figures.uploadsSent}, lost ${lost} (each one segmented, refused once as a bad ` +
          "image, or queued for the next start; " +
          `of the ${CLIENTS * FILES_PER_CLIENT} from ${CLIENTS} clients, ${figures.manySegmented} segmented ` +
          `and ${figures.manyQueued} queued when stopped)`,
        `  service resident memory ${figures.rssBeforeBigUploadsMiB} MiB before ${BIG_UPLOADS} concurrent ` +
          `${BIG_UPLOAD_BYTES / MIB} MiB uploads, ` +
          `at most ${figures.peakRssDuringBigUploadsMiB} MiB while they streamed in, ` +
          `${figures.peakRssUntilRefusedMiB} MiB until the worker had refused them`,
      ].join("\n"),
    );
  });

  it("refuses names no storage can hold, answers whatever a job folder holds, " +
    "and segments a job folder named '~'", async () => {
    const refused = [
      { files: ["a\\..\\..\\b.png"] },
      { filename: "C:\\x.png" },
      { files: [`${"é".repeat(128)}/a.png`] },
      { files: ["a.png", "a.png/b.png"] },
    ];
    for (const body of refused) {
      await fault(async () => {
        const response = await fetch(`${api()}/v1/jobs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        expect(response.status, JSON.stringify(body)).toBe(400);
        expect(apiErrorSchema.parse(await response.json()).error.code).toBe("invalid_request");
      });
    }

    // A name the API refuses, copied into a job folder by hand beside a good image: the job still answers.
    await fault(async () => {
      const folder = path.join(service.ready.storage.inputDirectory, "by-hand");
      await mkdir(folder, { recursive: true });
      await writeFile(path.join(folder, "c\\d.png"), smallPng);
      await writeFile(path.join(folder, "good.png"), smallPng);
      const view = await finishedJob(api(), "by-hand");
      expect(view.files.map((file) => [file.fileName, file.state])).toEqual([["good.png", "succeeded"]]);
      const result = await fetch(`${api()}/v1/jobs/by-hand/result?file=c%5Cd.png`);
      expect(result.status).toBeGreaterThanOrEqual(400);
      expect(result.status).toBeLessThan(500);
      expect((await fetch(`${api()}/health`)).status).toBe(200);
    });

    await fault(async () => {
      const created = await createJob({ files: ["~/x.png"] });
      await upload(created.uploads[0]!, smallPng);
      const view = await finishedJob(api(), created.jobId);
      expect(view).toMatchObject({ status: "succeeded", images: { succeeded: 1, total: 1 } });
      figures.uploadsAccounted++;
    });
  }, 300_000);

  it(`streams ${BIG_UPLOADS} concurrent ${BIG_UPLOAD_BYTES / MIB} MiB uploads to the folder, then refuses them ` +
    "once each as too large", async () => {
    await fault(async () => {
      const files = Array.from({ length: BIG_UPLOADS }, (_, i) => `big-${i}.png`);
      const created = await createJob({ files });
      const pid = service.child.pid!;
      const mib = (kib: number) => Math.round(kib / 1024);
      figures.rssBeforeBigUploadsMiB = mib(readMemory(pid).rssKiB);
      let peakKiB = 0;
      const sampler = setInterval(() => (peakKiB = Math.max(peakKiB, readMemory(pid).rssKiB)), 20);
      try {
        // A PNG header claiming 20000x20000 pixels, padded with zeros: the pixel limit refuses it. Half of them
        // say their length, half are sent chunked (as a client streaming from a pipe does).
        const stored = await Promise.all(
          created.uploads.map((target, i) =>
            upload(
              {
                ...target,
                headers: { ...target.headers, ...(i % 2 === 0 ? { "content-length": String(BIG_UPLOAD_BYTES) } : {}) },
              },
              generatedBody(pngClaiming(20_000, 20_000), BIG_UPLOAD_BYTES),
            ),
          ),
        );
        figures.peakRssDuringBigUploadsMiB = mib(peakKiB);
        expect(stored.map((entry) => entry.size)).toEqual(files.map(() => BIG_UPLOAD_BYTES));
        const view = await finishedJob(api(), created.jobId);
        figures.peakRssUntilRefusedMiB = mib(peakKiB);
        expect(view.files.map((file) => file.error?.code)).toEqual(files.map(() => "image_too_large"));
        figures.uploadsAccounted += BIG_UPLOADS;
      } finally {
        clearInterval(sampler);
      }
      // Streamed: less than one body in memory (the worker may already be reading the first one stored, to
      // decode it), where holding the four took 1.4 GiB more.
      expect(figures.peakRssDuringBigUploadsMiB - figures.rssBeforeBigUploadsMiB).toBeLessThan(BIG_UPLOAD_BYTES / MIB);
      // Failed once each: the dead-letter queue is for failures a retry could cure.
      expect(await deadLetters()).toEqual([]);
      await rm(path.join(service.ready.storage.inputDirectory, created.jobId), { recursive: true });
    });
  }, 300_000);

  it(`finishes an image whose service was killed mid-image, at the next start (${CRASHES} times)`, async () => {
    const image = await readFile(CORT_IMAGE);
    for (let crash = 1; crash <= CRASHES; crash++) {
      await fault(async () => {
        const created = await createJob({ filename: `crash-${crash}.png` });
        await upload(created.uploads[0]!, image);
        await vi.waitFor(
          async () =>
            expect((await json(await fetch(`${api()}${created.statusUrl}`), jobViewSchema)).files[0]!.state).toBe(
              "running",
            ),
          {
            timeout: 120_000,
            interval: 100,
          },
        );
        const { modelServerPid } = service.ready;
        service.child.kill("SIGKILL");
        await service.exited;
        // Its model server goes with it, freeing the port for the next start.
        await vi.waitFor(() => expect(running(modelServerPid)).toBe(false), { timeout: 60_000, interval: 200 });

        service = await startLocalService(dataDirectory, env);
        const view = await finishedJob(api(), created.jobId, 180_000);
        expect(view).toMatchObject({ status: "succeeded", images: { succeeded: 1, total: 1 } });
        expect(view.files[0]!.cells).toBeGreaterThan(0);
        expect(await deadLetters()).toEqual([]);
        expect(service.output.join("\n")).not.toMatch(/dead-lettered|will be delivered again/);
        figures.uploadsAccounted++;
      });
    }
  }, 600_000);

  it(`accounts for every one of ${CLIENTS * FILES_PER_CLIENT} uploads into new sub-folders from ${CLIENTS} ` +
    "clients at once", async () => {
    const jobs = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, client) => {
        const created = await createJob({
          files: Array.from({ length: FILES_PER_CLIENT }, (_, i) => `plate-${client}/well-${i}/field.png`),
        });
        for (const target of created.uploads) await upload(target, smallPng);
        return created;
      }),
    );
    // Every upload is on record: none waits for its upload, none failed.
    for (const created of jobs) {
      const view = await json(await fetch(`${api()}${created.statusUrl}`), jobViewSchema);
      expect(view.images).toMatchObject({ awaiting_upload: 0, failed: 0, total: FILES_PER_CLIENT });
    }

    // Stopped at once: what was not segmented yet must be in the queue, which the stop message counts.
    service.child.kill("SIGINT");
    expect(await service.exited, service.output.join("\n")).toBe(0);
    const waiting = Number(
      /(\d+) waiting image\(s\) are picked up at the next start/.exec(service.output.join("\n"))?.[1] ?? 0,
    );
    let segmented = 0;
    for (const created of jobs) {
      for (const { fileName } of created.uploads) {
        const text = await readFile(
          path.join(service.ready.storage.outputDirectory, created.jobId, fileName, "status.json"),
          "utf8",
        ).catch(() => undefined);
        const status = text === undefined ? undefined : jobStatusSchema.parse(JSON.parse(text));
        if (status?.status === "succeeded") segmented++;
        else expect(status?.status ?? "queued", fileName).toBe("queued");
      }
    }
    Object.assign(figures, { manySegmented: segmented, manyQueued: waiting });
    figures.uploadsAccounted += segmented + waiting;
    expect(segmented + waiting).toBe(CLIENTS * FILES_PER_CLIENT);
    expect(await deadLetters()).toEqual([]);
  }, 300_000);
});
