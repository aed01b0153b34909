import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { invocationRequestSchema, type InvocationResponse } from "../../../../../core/schemas/endpoint";
import { retrying } from "../../../../../functions/pipeline/endpoint/endpoint";
import {
  EndpointProtocolError,
  EndpointRejectedError,
  EndpointUnavailableError,
} from "../../../../../functions/pipeline/endpoint/errors";
import { HttpEndpoint } from "../../../../../functions/pipeline/endpoint/http-endpoint";

/** An endpoint's valid answer for a 4x3 tile with one cell. */
const ANSWER: InvocationResponse = {
  modelVersion: "test",
  manifestSha256: "a".repeat(64),
  profile: "fast",
  executionProvider: "cpu",
  width: 4,
  height: 3,
  tileOrigin: { x: 8, y: 0 },
  cellType: "astro",
  instances: [{ cellType: "astro", score: 0.9, box: [0, 0, 2, 2], area: 3, rle: "1 2 5 1" }],
  timings: { decodeMs: 1, normalizeMs: 1, inferenceMs: 10, postprocessMs: 1, encodeMs: 0, queueMs: 0, totalMs: 13 },
};

type Reply = (request: IncomingMessage, body: string, response: ServerResponse) => void;

/** A real HTTP server that plays the endpoint with a script: one reply per request, then the valid answer. */
describe("HttpEndpoint with retries", () => {
  let server: Server;
  let url: string;
  let script: Reply[];
  let bodies: string[];

  const ok: Reply = (_req, _body, res) =>
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(ANSWER));
  const status =
    (code: number, body = "", headers: Record<string, string> = {}): Reply =>
    (_req, _body, res) =>
      res.writeHead(code, { "Content-Type": "application/json", ...headers }).end(body);
  const hang: Reply = () => undefined;

  beforeAll(async () => {
    server = createServer(async (request, response) => {
      let body = "";
      for await (const chunk of request) body += chunk;
      bodies.push(body);
      (script.shift() ?? ok)(request, body, response);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    script = [];
    bodies = [];
  });

  const endpoint = (timeoutMs = 2000, maxAttempts = 4) =>
    retrying(new HttpEndpoint(url, { timeoutMs }), { maxAttempts, baseDelayMs: 1, maxDelayMs: 20 });
  const tile = { image: new Uint8Array([137, 80, 78, 71]), tileOrigin: { x: 8, y: 0 }, profile: "fast" as const };

  it("sends the tile as the endpoint's JSON request and parses its answer", async () => {
    // Act
    const answer = await endpoint().invoke(tile);

    // Assess
    expect(answer).toEqual(ANSWER);
    const request = invocationRequestSchema.parse(JSON.parse(bodies[0]));
    expect(request).toEqual({ image: "iVBORw==", tileOrigin: { x: 8, y: 0 }, profile: "fast" });
  });

  it("retries throttling, 5xx and a hung request, then succeeds", async () => {
    // Prepare
    script = [
      status(503, '{"error":{"code":"queue_full","message":"busy"}}', { "Retry-After": "0" }),
      status(500),
      status(429),
      hang,
    ];
    const retries: unknown[] = [];

    // Act
    const answer = await endpoint(300, 5).invoke(tile, { onRetry: ({ error }) => retries.push(error) });

    // Assess
    expect(answer.instances).toHaveLength(1);
    expect(bodies).toHaveLength(5);
    expect(retries.map((e) => (e as EndpointUnavailableError).status)).toEqual([503, 500, 429, undefined]);
    expect((retries[3] as Error).message).toMatch(/did not answer within 300 ms/);
  });

  it("gives up after the last attempt with an EndpointUnavailableError naming the status", async () => {
    // Prepare
    script = [status(503), status(503), status(503)];

    // Act
    const call = endpoint(2000, 3).invoke(tile);

    // Assess
    await expect(call).rejects.toBeInstanceOf(EndpointUnavailableError);
    await expect(call).rejects.toThrow(/the endpoint answered 503/);
    expect(bodies).toHaveLength(3);
  });

  it("does not retry a refusal (4xx), and keeps the endpoint's error code", async () => {
    // Prepare
    script = [status(400, '{"error":{"code":"invalid_image","message":"Cannot read the PNG image"}}')];

    // Act
    const error = await endpoint()
      .invoke(tile)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(EndpointRejectedError);
    expect(error).toMatchObject({
      status: 400,
      code: "invalid_image",
      message: "the endpoint answered 400 invalid_image: Cannot read the PNG image",
    });
    expect(bodies).toHaveLength(1);
  });

  it("reports an answer that is not an invocation response as a protocol error, not retried", async () => {
    // Prepare
    script = [status(200, '{"instances": "none"}')];

    // Act
    const error = await endpoint()
      .invoke(tile)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(EndpointProtocolError);
    expect(bodies).toHaveLength(1);
  });

  it("retries when the endpoint cannot be reached at all", async () => {
    // Prepare: a port nothing listens on.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = retrying(new HttpEndpoint(`http://127.0.0.1:${port}`, { timeoutMs: 1000 }), {
      maxAttempts: 2,
      baseDelayMs: 1,
      maxDelayMs: 1,
    });
    let retries = 0;

    // Act
    const error = await unreachable.invoke(tile, { onRetry: () => retries++ }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(EndpointUnavailableError);
    expect((error as Error).message).toMatch(/cannot reach the endpoint/);
    expect(retries).toBe(1);
  });
});
