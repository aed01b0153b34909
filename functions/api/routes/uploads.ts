/**
 * `PUT /v1/uploads/{token}`: the local stack's stand-in for an S3 presigned upload. The token (made by
 * LocalUploadLinks when the job was created) names the input key; the body is stored there as it is, and
 * the local worker sees the new file exactly as it sees one dropped into the input folder.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { LocalUploadLinks } from "../../jobs/local-upload-links";
import type { LocalStorage } from "../../pipeline/storage/local-storage";
import { ApiRequestError } from "../errors";
import { streamedBody } from "./body-limit";
import { binarySchema, errorResponse } from "./openapi-parts";

/** Uploads through the API itself (the local stack, whose storage no client can reach). */
export interface ApiUploads {
  readonly links: LocalUploadLinks;
  /** Where uploads are written, streamed (an upload may be hundreds of MB): the local bucket. */
  readonly input: Pick<LocalStorage, "putStream">;
  /**
   * Told of each stored upload, as S3 tells its queue: the local stack queues the image from here rather
   * than rely on its folder watcher alone, which can miss a file in a folder created a moment before.
   */
  readonly onStored?: (key: string) => Promise<void>;
  readonly maxBytes: number;
}

const uploadRoute = createRoute({
  method: "put",
  path: "/v1/uploads/{token}",
  summary: "Upload one image to the link POST /v1/jobs gave (local runs; in AWS the links are S3's)",
  request: {
    params: z.object({ token: z.string().min(1) }),
    body: { required: true, content: { "application/octet-stream": { schema: binarySchema } } },
  },
  responses: {
    200: {
      description: "Stored; segmentation starts",
      content: { "application/json": { schema: z.object({ key: z.string(), size: z.number().int() }) } },
    },
    400: errorResponse("The body is empty"),
    403: errorResponse("The link is not valid or has expired"),
    413: errorResponse("The body is larger than the upload limit"),
  },
});

/** @example app.route("/", uploadRoutes({ links, input, maxBytes })) */
export function uploadRoutes(uploads: ApiUploads): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(uploadRoute, async (c) => {
    const key = uploads.links.verify(c.req.valid("param").token);
    // Streamed to the bucket, never whole in memory, with or without Content-Length.
    const body = streamedBody(c.req.raw, uploads.maxBytes);
    const size = body ? await uploads.input.putStream(key, body) : 0;
    if (size === 0) throw new ApiRequestError(400, "empty_body", "the upload is empty: send the image's bytes");
    await uploads.onStored?.(key);
    return c.json({ key, size }, 200);
  });
  return app;
}
