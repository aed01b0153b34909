/**
 * A small HTTP proxy in front of a real server, which answers with injected faults for the requests it
 * is told to (503 with Retry-After, 500, a hang that never answers, a 4xx) and forwards the others,
 * recording what the server answered. It stands for the network and load between the pipeline and the
 * endpoint; the pipeline's own code is not replaced by anything.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  | {
      readonly kind: "status";
      readonly status: number;
      readonly body?: string;
      readonly headers?: Record<string, string>;
    }
  /** Accepts the request and never answers (until the client gives up). */
  | { readonly kind: "hang" };

export interface ProxiedExchange {
  readonly path: string;
  readonly status: number;
  readonly body: string;
}

/**
 * @example
 * ```ts
 * const proxy = await FaultProxy.start(server.url);
 * proxy.inject({ kind: "status", status: 503, headers: { "Retry-After": "0" } }, { kind: "hang" });
 * ```
 */
export class FaultProxy {
  /** Requests to /invocations, faulted or forwarded. */
  invocations = 0;
  /** What the real server answered to forwarded /invocations requests, in order. */
  readonly forwarded: ProxiedExchange[] = [];
  private readonly faults: Fault[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<FaultProxy> {
    let proxy!: FaultProxy;
    const server = createServer((request, response) => void proxy.handle(target, request, response));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new FaultProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  /** The next /invocations requests get these faults, in order; later ones are forwarded. */
  inject(...faults: Fault[]): void {
    this.faults.push(...faults);
  }

  /** Forgets counts, records and faults not yet used. */
  reset(): void {
    this.invocations = 0;
    this.forwarded.length = 0;
    this.faults.length = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(target: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const isInvocation = request.url === "/invocations";
    const fault = isInvocation ? this.faults.shift() : undefined;
    if (isInvocation) this.invocations++;
    if (fault?.kind === "hang") return;
    if (fault?.kind === "status") {
      response.writeHead(fault.status, { "Content-Type": "application/json", ...fault.headers });
      response.end(fault.body ?? JSON.stringify({ error: { code: "injected", message: `injected ${fault.status}` } }));
      return;
    }
    try {
      const answer = await fetch(`${target}${request.url}`, {
        method: request.method,
        headers: Object.fromEntries(
          ["content-type", "accept"].flatMap((name) =>
            request.headers[name] ? [[name, String(request.headers[name])]] : [],
          ),
        ),
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
      const body = await answer.text();
      if (isInvocation) this.forwarded.push({ path: request.url!, status: answer.status, body });
      response.writeHead(
        answer.status,
        Object.fromEntries(
          [...answer.headers].filter(
            ([name]) =>
              !["content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"].includes(name),
          ),
        ),
      );
      response.end(body);
    } catch (error) {
      response.writeHead(502, { "Content-Type": "text/plain" });
      response.end(`proxy: ${(error as Error).message}`);
    }
  }
}
