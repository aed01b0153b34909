/**
 * A stand-in for the SageMaker runtime service (which cannot be reached from tests): it answers
 * InvokeEndpoint (`POST /endpoints/<name>/invocations`) the way SageMaker does, by passing the body to a
 * real model container and returning its answer, a ModelError (424, with the container's status and
 * message) when the container fails, and throttling errors when told to.
 * https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type RuntimeFault = "ThrottlingException" | "ModelNotReadyException";

export interface SageMakerRuntime {
  readonly url: string;
  /** The endpoint names InvokeEndpoint was called with, in order. */
  readonly calls: string[];
  /** The next calls fail with these errors, in order. */
  inject(...faults: RuntimeFault[]): void;
  close(): Promise<void>;
}

export async function startSageMakerRuntime(containerUrl: string): Promise<SageMakerRuntime> {
  const faults: RuntimeFault[] = [];
  const calls: string[] = [];
  const error = (status: number, type: string, body: Record<string, unknown>) => ({
    status,
    headers: {
      "Content-Type": "application/json",
      "x-amzn-ErrorType": type,
      "x-amzn-RequestId": "00000000-0000-0000-0000-000000000000",
    },
    body: JSON.stringify(body),
  });
  const server: Server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const match = /^\/endpoints\/([^/]+)\/invocations$/.exec(request.url ?? "");
    let answer: { status: number; headers: Record<string, string>; body: string | Uint8Array };
    if (request.method !== "POST" || match === null) {
      answer = error(404, "UnknownOperationException", {
        message: `no operation for ${request.method} ${request.url}`,
      });
    } else {
      calls.push(decodeURIComponent(match[1]));
      const fault = faults.shift();
      if (fault === "ThrottlingException") answer = error(400, fault, { message: "Rate exceeded" });
      else if (fault === "ModelNotReadyException") answer = error(429, fault, { message: "Model is not ready" });
      else {
        const container = await fetch(`${containerUrl}/invocations`, {
          method: "POST",
          headers: {
            "Content-Type": String(request.headers["content-type"]),
            Accept: String(request.headers.accept ?? "*/*"),
          },
          body: Buffer.concat(chunks),
        });
        const body = new Uint8Array(await container.arrayBuffer());
        answer = container.ok
          ? {
              status: 200,
              headers: {
                "Content-Type": container.headers.get("content-type") ?? "application/json",
                "x-Amzn-Invoked-Production-Variant": "AllTraffic",
              },
              body,
            }
          : error(424, "ModelError", {
              message:
                `Received client error (${container.status}) from primary with message ` +
                `"${new TextDecoder().decode(body)}".`,
              OriginalStatusCode: container.status,
              OriginalMessage: new TextDecoder().decode(body),
              LogStreamArn: "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/cellseg",
            });
      }
    }
    response.writeHead(answer.status, answer.headers);
    response.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    inject: (...more) => faults.push(...more),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
