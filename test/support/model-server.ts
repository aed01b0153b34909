/**
 * The real model server (model-container) as a child process on a free port, as `npm run model-server`
 * starts it, for tests that need the endpoint. One onnxruntime thread and the `fast` profile only: the
 * machine is shared.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const SERVER_ENTRY = path.join("model-container", "src", "server", "main.ts");

export interface ModelServer {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts the server and waits until GET /ping answers 200 (models loaded and warmed up).
 *
 * @example
 * ```ts
 * const server = await startModelServer({ CELLSEG_MAX_QUEUE: "64" });
 * afterAll(() => server.stop());
 * ```
 */
export async function startModelServer(env: Record<string, string> = {}): Promise<ModelServer> {
  const child = spawn(process.execPath, ["--import", "tsx", SERVER_ENTRY], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: "0", CELLSEG_THREADS: "1", CELLSEG_PROFILES: "fast", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  createInterface({ input: child.stderr! }).on("line", (line) => output.push(line));
  const port = await new Promise<number | undefined>((resolve) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === "listening") resolve(entry.port);
      } catch {
        // Not a log line; kept for the error message.
      }
    });
    void exited.then(() => resolve(undefined));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  };
  if (port === undefined) throw new Error(`the model server exited before listening:\n${output.join("\n")}`);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const ping = await fetch(`${url}/ping`).catch(() => undefined);
    if (ping?.status === 200) return { url, child, stop };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stop();
  throw new Error(`the model server never became ready:\n${output.join("\n")}`);
}
