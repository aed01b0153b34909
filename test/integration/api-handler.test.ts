/**
 * The deployed API function (functions/api/handler.ts) as API Gateway calls it: REST proxy events of the
 * recorded shape (test/fixtures/events/apigw-rest-proxy.json), binary bodies base64-encoded as API Gateway
 * sends them with binary media types on, configuration from the environment, and a real S3 protocol server
 * (s3rver) as the buckets. Upload links are presigned S3 URLs that work; results are redirects to presigned
 * S3 URLs.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createJobResponseSchema, jobViewSchema } from "../../core/schemas/api";
import { handler } from "../../functions/api/handler";
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from "../../functions/local/s3-server";
import { lambdaContext } from "../support/sqs-events";

const FIXTURE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "fixtures",
  "events",
  "apigw-rest-proxy.json",
);
const BUCKET = "cellseg-api-test";

function apiEvent(
  method: string,
  pathAndQuery: string,
  body?: { text?: string; bytes?: Uint8Array; contentType: string },
): APIGatewayProxyEvent {
  const template = JSON.parse(readFileSync(FIXTURE, "utf8")) as APIGatewayProxyEvent;
  const url = new URL(pathAndQuery, "https://example.invalid");
  const query = url.searchParams.size > 0 ? Object.fromEntries(url.searchParams) : null;
  const headers = { ...template.headers, ...(body ? { "Content-Type": body.contentType } : {}) };
  return {
    ...template,
    httpMethod: method,
    path: url.pathname,
    pathParameters: { proxy: url.pathname.slice(1) },
    queryStringParameters: query,
    multiValueQueryStringParameters: query && Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])),
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v as string]])),
    requestContext: { ...template.requestContext, httpMethod: method, path: `/prod${url.pathname}` },
    // With binary media types "*/*", API Gateway hands every body over base64-encoded.
    body: body ? Buffer.from(body.bytes ?? new TextEncoder().encode(body.text)).toString("base64") : null,
    isBase64Encoded: body !== undefined,
  };
}

async function call(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  // hono types the events it accepts itself; the shape is API Gateway's, which @types/aws-lambda spells differently.
  return (await handler(
    event as unknown as Parameters<typeof handler>[0],
    lambdaContext() as Context,
  )) as APIGatewayProxyResult;
}

describe("API function (API Gateway REST proxy events, s3rver)", () => {
  let s3: LocalS3;

  beforeAll(async () => {
    s3 = await startLocalS3([BUCKET]);
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
      INPUT_BUCKET: BUCKET,
      S3_ENDPOINT_URL: s3.url,
      // Never reached by these requests: nothing here runs the model.
      MODEL_SERVER_URL: "http://127.0.0.1:9",
      POWERTOOLS_LOG_LEVEL: "ERROR",
    });
  });

  afterAll(async () => {
    await s3?.close();
  });

  it("creates a job whose presigned upload link stores the image, and reports it queued", async () => {
    const created = await call(
      apiEvent("POST", "/v1/jobs", {
        text: JSON.stringify({ filename: "cells.png" }),
        contentType: "application/json",
      }),
    );
    expect(created.statusCode, created.body).toBe(201);
    const job = createJobResponseSchema.parse(JSON.parse(created.body));
    expect(new URL(job.uploadUrl!).searchParams.get("X-Amz-Signature")).toBeTruthy();
    // No checksum of an empty body signed into the link: a real upload of real bytes must pass.
    expect(job.uploadUrl).not.toMatch(/x-amz-checksum/i);

    // The link takes any bytes (the pipeline judges them); these are the fixture's own.
    const put = await fetch(job.uploadUrl!, { method: "PUT", body: readFileSync(FIXTURE) });
    expect(put.status, await put.text()).toBe(200);

    const status = await call(apiEvent("GET", `/v1/jobs/${job.jobId}`));
    expect(status.statusCode).toBe(200);
    const view = jobViewSchema.parse(JSON.parse(status.body));
    expect(view).toMatchObject({
      status: "queued",
      images: { queued: 1, total: 1 },
      files: [{ fileName: "cells.png", state: "queued" }],
    });
  });

  it("answers the OpenAPI document, 404 for an unknown job and 409 for a result not ready", async () => {
    const doc = await call(apiEvent("GET", "/v1/openapi.json"));
    expect(doc.statusCode).toBe(200);
    expect(Object.keys((JSON.parse(doc.body) as { paths: object }).paths)).toEqual(
      expect.arrayContaining(["/v1/jobs", "/v1/jobs/{jobId}", "/v1/jobs/{jobId}/result", "/v1/segment"]),
    );
    // Signed uploads exist only in the local stack; in AWS the links are S3's.
    expect(Object.keys((JSON.parse(doc.body) as { paths: object }).paths)).not.toContain("/v1/uploads/{token}");

    const missing = await call(apiEvent("GET", "/v1/jobs/no-such-job"));
    expect(missing.statusCode).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ error: { code: "job_not_found" } });

    const created = createJobResponseSchema.parse(
      JSON.parse(
        (
          await call(
            apiEvent("POST", "/v1/jobs", {
              text: JSON.stringify({ files: ["a.png", "b.png"] }),
              contentType: "application/json",
            }),
          )
        ).body,
      ),
    );
    const notReady = await call(apiEvent("GET", `/v1/jobs/${created.jobId}/result?format=kaggle`));
    expect(notReady.statusCode).toBe(409);
    expect(JSON.parse(notReady.body)).toMatchObject({ error: { code: "result_not_ready" } });
  });

  it(
    "decodes a base64 binary body for POST /v1/segment and refuses bytes that are not an image before any " +
      "model call",
    async () => {
      const answer = await call(
        apiEvent("POST", "/v1/segment", {
          bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]),
          contentType: "image/png",
        }),
      );
      expect(answer.statusCode, answer.body).toBe(400);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "invalid_image" } });
    },
  );
});
