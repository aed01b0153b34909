/**
 * `PUT /v1/uploads/{token}`: the local stack's stand-in for an S3 presigned upload. The token (made by
 * LocalUploadLinks when the job was created) names the input key; the body is stored there as it is, and
 * the local worker sees the new file exactly as it sees one dropped into the input folder.
 */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { ApiUploads } from "../app";
import { ApiRequestError } from "../errors";
import { streamedBody } from "./body-limit";
import { binarySchema, errorResponse } from "./openapi-parts";

const uploadRoute = createRoute({
  method: "put",
  path: "/v1/uploads/{token}",
  summary: "Upload one image to the link POST /v1/jobs gave (local runs; in AWS the links are S3's)",
  request: { params: z.object({ token: z.string().min(1) }), body: { required: true, content: { "application/octet-stream": { schema: binarySchema } } } },
  responses: {
    200: { description: "Stored; segmentation starts", content: { "application/json": { schema: z.object({ key: z.string(), size: z.number().int() }) } } },
    400: errorResponse("The body is empty"),
    403: errorResponse("The link is not valid or has expired"),
    413: errorResponse("The body is larger than the upload limit"),
  },
});

/** @example registerUploadRoute(app, { links, input, maxBytes }) */
export function registerUploadRoute(app: OpenAPIHono, uploads: ApiUploads): void {
  app.openapi(uploadRoute, async (c) => {
    const key = uploads.links.verify(c.req.valid("param").token);
    // Streamed to the bucket, never whole in memory, with or without Content-Length.
    const body = streamedBody(c.req.raw, uploads.maxBytes);
    const size = body ? await uploads.input.putStream(key, body) : 0;
    if (size === 0) throw new ApiRequestError(400, "empty_body", "the upload is empty: send the image's bytes");
    await uploads.onStored?.(key);
    return c.json({ key, size }, 200);
  });
}
