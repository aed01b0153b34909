/**
 * The model server (model-container) as a child process, as `npm run model-server` starts it: the local
 * stack's endpoint, and the tests'. Its JSON log lines go to `onLog`; the port it bound comes from its
 * `listening` line (so port 0 works), and it is ready once `GET /ping` answers 200 (models loaded and
 * warmed up).
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Environment } from "../../plumbing/environment";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const SERVER_ENTRY = path.join("model-container", "src", "server", "main.ts");
/** Ends the server when this process ends, even killed: it watches the stdin pipe from this process. */
const EXIT_WITH_PARENT = pathToFileURL(path.join(REPO_ROOT, "functions", "local", "exit-with-parent.ts")).href;

/** Log lines kept for the error message when the server fails to start. */
const KEPT_LOG_LINES = 40;

export interface ModelServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** SIGTERM (the server finishes what it accepted), then SIGKILL after `graceMs`. */
  stop(options?: { readonly graceMs?: number }): Promise<void>;
}

export interface ModelServerProcessOptions {
  /** Variables for the server (PORT, CELLSEG_*), over this process's environment; undefined ones are left out. */
  readonly env?: Environment;
  /** Every line the server writes. */
  readonly onLog?: (line: string) => void;
  /** @default 300000: loading and warming up on a busy 2-core machine takes a while. */
  readonly readyTimeoutMs?: number;
  /**
   * In its own process group, so that Ctrl-C in a terminal reaches only the parent, which stops the
   * server after its own work is done.
   */
  readonly detached?: boolean;
}

/**
 * @throws Error with the server's last log lines when it exits or is not ready in time.
 * @example
 * ```ts
 * const server = await startModelServerProcess({ env: { PORT: "0", CELLSEG_PROFILES: "fast" } });
 * await fetch(`${server.url}/ping`);
 * await server.stop();
 * ```
 */
export async function startModelServerProcess(options: ModelServerProcessOptions = {}): Promise<ModelServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "--import", EXIT_WITH_PARENT, SERVER_ENTRY], {
    cwd: REPO_ROOT,
    // Loopback: the model server has no authentication, and only this process calls it (at 127.0.0.1).
    env: { ...process.env, CELLSEG_HOST: "127.0.0.1", ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
    detached: options.detached ?? false,
  });
  const recent: string[] = [];
  const record = (line: string) => {
    recent.push(line);
    if (recent.length > KEPT_LOG_LINES) recent.shift();
    options.onLog?.(line);
  };
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  if (options.detached) {
    // Out of the terminal's reach, it goes at once when this process exits (exit-with-parent.ts stops it
    // when this process is killed before it can do so).
    const takeAlong = () => child.kill("SIGKILL");
    process.once("exit", takeAlong);
    void exited.then(() => process.off("exit", takeAlong));
  }
  const running = () => child.exitCode === null && child.signalCode === null;
  createInterface({ input: child.stderr! }).on("line", record);
  const port = await new Promise<number | undefined>((resolve) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      record(line);
      const entry = parseLogLine(line);
      if (entry?.msg === "listening" && typeof entry.port === "number") resolve(entry.port);
    });
    void exited.then(() => resolve(undefined));
  });

  const stop = async ({ graceMs = 90_000 } = {}) => {
    if (!running()) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const failed = async (reason: string) => {
    await stop({ graceMs: 5_000 });
    return new Error(`the model server ${reason}:\n${recent.join("\n")}`);
  };
  if (port === undefined) throw await failed("exited before listening");

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 300_000);
  while (Date.now() < deadline && running()) {
    const ping = await fetch(`${url}/ping`).catch(() => undefined);
    if (ping?.status === 200) return { url, child, stop };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw await failed(running() ? "was not ready in time" : "exited while loading the models");
}

function parseLogLine(line: string): { msg?: unknown; port?: unknown } | undefined {
  try {
    return JSON.parse(line) as { msg?: unknown; port?: unknown };
  } catch {
    return undefined;
  }
}
