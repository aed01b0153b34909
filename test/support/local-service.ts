/**
 * `npm start`'s entry as a child process, as a user runs it (one onnxruntime thread and the `fast` profile:
 * the machine is shared), and the API calls the tests make against it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { expect, vi } from "vitest";
import { jobViewSchema, type JobView } from "../../core/schemas/api";
import { REPO_ROOT } from "../integration/helpers";

export interface LocalService {
  readonly child: ChildProcess;
  /** The "local stack ready" line it prints. */
  readonly ready: {
    apiUrl: string;
    modelServerUrl: string;
    modelServerPid: number;
    storage: { inputDirectory: string; outputDirectory: string };
  };
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Every line it wrote, stdout and stderr. */
  readonly output: string[];
}

/**
 * @param env variables over the defaults (free ports, the data directory, one thread, `fast`).
 * @example
 * ```ts
 * const service = await startLocalService(dataDirectory, { LOCAL_MAX_RECEIVES: "2" });
 * await fetch(`${service.ready.apiUrl}/health`);
 * ```
 */
export async function startLocalService(
  dataDirectory: string,
  env: Record<string, string> = {},
): Promise<LocalService> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join("functions", "local", "main.ts")], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORT: "0",
      MODEL_SERVER_PORT: "0",
      CELLSEG_DATA_DIR: dataDirectory,
      CELLSEG_THREADS: "1",
      CELLSEG_PROFILES: "fast",
      POWERTOOLS_LOG_LEVEL: "WARN",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const output: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (line) => output.push(line));
  const ready = await new Promise<LocalService["ready"]>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output.push(line);
      if (line.includes('"local stack ready"')) resolve(JSON.parse(line));
    });
    void exited.then((code) => reject(new Error(`npm start exited with ${code}:\n${output.join("\n")}`)));
  });
  return { child, ready, exited, output };
}

/** The answer's body, parsed by `schema`, after checking its status is 2xx. */
export async function json<T>(response: Response, schema: { parse(value: unknown): T }): Promise<T> {
  const text = await response.text();
  expect(response.ok, `${response.status} ${text}`).toBe(true);
  return schema.parse(JSON.parse(text));
}

/** Polls the job until no image is queued or running (uploads all made). */
export async function finishedJob(apiUrl: string, jobId: string, timeoutMs = 240_000): Promise<JobView> {
  let view: JobView | undefined;
  await vi.waitFor(
    async () => {
      view = await json(await fetch(`${apiUrl}/v1/jobs/${jobId}`), jobViewSchema);
      expect(view.images.queued + view.images.running + view.images.awaiting_upload).toBe(0);
    },
    { timeout: timeoutMs, interval: 500 },
  );
  return view!;
}
