/**
 * The real model server for tests that need the endpoint: the local stack's child process on a free
 * port, with one onnxruntime thread and the `fast` profile only (the machine is shared), stopped hard.
 */
import type { ChildProcess } from "node:child_process";
import { startModelServerProcess } from "../../functions/local/model-server-process";

export interface ModelServer {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * @example
 * ```ts
 * const server = await startModelServer({ CELLSEG_MAX_QUEUE: "64" });
 * afterAll(() => server.stop());
 * ```
 */
export async function startModelServer(env: Record<string, string> = {}): Promise<ModelServer> {
  const server = await startModelServerProcess({
    env: { PORT: "0", CELLSEG_THREADS: "1", CELLSEG_PROFILES: "fast", ...env },
    readyTimeoutMs: 120_000,
  });
  return { url: server.url, child: server.child, stop: () => server.stop({ graceMs: 0 }) };
}
