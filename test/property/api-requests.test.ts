/**
 * Whatever a client sends, the API answers it: a 2xx or a 4xx with the error body, never a 500 and never
 * a crash. Arbitrary JSON bodies, paths, queries and upload tokens against the app as the local stack
 * wires it (real LocalStorage on a temporary directory); the model endpoint must stay untouched.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiErrorSchema } from "../../core/schemas/api";
import { testApi, type TestApi } from "../unit/functions/api/api-fixture";

/** An answer is a success, or a client error with the API's error body. */
async function expectHandled(response: Response): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBeLessThan(500);
  if (response.status >= 400) expect(() => apiErrorSchema.parse(JSON.parse(text)), text).not.toThrow();
}

describe("the API answers any request with a 2xx or a 4xx", () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await testApi();
  });

  afterAll(async () => {
    await api.dispose();
    expect(api.endpoint.calls).toBe(0);
  });

  it("for any JSON body of POST /v1/jobs", async () => {
    const fileName = fc.oneof(
      fc.string(),
      fc.constantFrom("a.png", "plate/A01.tif", "../x.png", ".hidden.png", "a\u0000.png", `${"x".repeat(600)}.png`),
    );
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record({ filename: fileName }, { requiredKeys: [] }),
      fc.record(
        { files: fc.array(fileName, { maxLength: 5 }), filename: fc.option(fileName, { nil: undefined }) },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        await expectHandled(
          await api.app.request("/v1/jobs", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(value),
          }),
        );
      }),
      { numRuns: 150 },
    );
  });

  it("for any bytes sent as JSON", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        await expectHandled(
          await api.app.request("/v1/jobs", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: bytes,
          }),
        );
      }),
      { numRuns: 100 },
    );
  });

  it("for any job id, result query and upload token", async () => {
    const segment = fc.string({ maxLength: 40 }).map(encodeURIComponent);
    const query = fc
      .dictionary(fc.constantFrom("format", "file", "x"), fc.string({ maxLength: 20 }))
      .map((entries) => new URLSearchParams(entries).toString());
    await fc.assert(
      fc.asyncProperty(segment, query, async (id, search) => {
        await expectHandled(await api.app.request(`/v1/jobs/${id}`));
        await expectHandled(await api.app.request(`/v1/jobs/${id}/result?${search}`));
        await expectHandled(await api.app.request(`/v1/uploads/${id}`, { method: "PUT", body: "bytes" }));
      }),
      { numRuns: 150 },
    );
  });

  it("for any bytes and content type sent to POST /v1/segment, refused before the model is called", async () => {
    const contentType = fc.oneof(
      fc.constantFrom("image/png", "image/tiff", "image/jpeg", "application/octet-stream", "text/plain"),
      fc.string({ maxLength: 30 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), contentType, async (bytes, type) => {
        const headers: Record<string, string> = {};
        // Some generated strings are not valid header values: the client would refuse to send them.
        if (/^[\x20-\x7e]*$/.test(type)) headers["content-type"] = type;
        await expectHandled(await api.app.request("/v1/segment", { method: "POST", headers, body: bytes }));
      }),
      { numRuns: 100 },
    );
  });
});
