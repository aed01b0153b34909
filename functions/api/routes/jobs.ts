/**
 * The job routes: create a job (upload links), read its state, fetch its results. Results are handed
 * out as download links where storage offers them (S3: a 302 to a presigned URL, which also keeps large
 * overlays clear of Lambda's 6 MB answer limit) and served from storage otherwise (the local stack).
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import {
  createJobRequestSchema,
  createJobResponseSchema,
  jobViewSchema,
  resultLinkSchema,
  resultQuerySchema,
  type ResultLink,
} from "../../../core/schemas/api";
import { jobIdSchema } from "../../../core/schemas/object-keys";
import type { JobsContext } from "../../jobs/context";
import { createJob } from "../../jobs/create-job";
import { jobResult } from "../../jobs/job-results";
import { readJob } from "../../jobs/job-view";
import { contentDisposition } from "../../jobs/s3-object-links";
import { limitBody } from "./body-limit";
import { binarySchema, errorResponse } from "./openapi-parts";

/** A job request lists file names: 10,000 names of 512 characters fit. */
const MAX_JOB_REQUEST_BYTES = 8 * 1024 * 1024;

const jobParams = z.object({ jobId: jobIdSchema });

const createJobRoute = createRoute({
  method: "post",
  path: "/v1/jobs",
  summary: "Create a job: one presigned upload link per image; each upload starts that image's segmentation",
  middleware: [limitBody(MAX_JOB_REQUEST_BYTES)] as const,
  request: { body: { required: true, content: { "application/json": { schema: createJobRequestSchema } } } },
  responses: {
    201: {
      description: "The job, with its upload links",
      content: { "application/json": { schema: createJobResponseSchema } },
    },
    400: errorResponse("The request is malformed, a file name is not allowed, or the job has too many files"),
    413: errorResponse("The request body is too large"),
    415: errorResponse("The body is not JSON"),
  },
});

const jobViewRoute = createRoute({
  method: "get",
  path: "/v1/jobs/{jobId}",
  summary: "A job's state: per image state, cell counts and timings; the job's compute time and estimated cost",
  request: { params: jobParams },
  responses: {
    200: { description: "The job", content: { "application/json": { schema: jobViewSchema } } },
    400: errorResponse("The job id is malformed"),
    404: errorResponse("No job has this id"),
  },
});

const resultRoute = createRoute({
  method: "get",
  path: "/v1/jobs/{jobId}/result",
  summary:
    "One result format of one image (json, kaggle, coco, labels, overlay, preview, measurements, summary, " +
    "geojson), or the whole job as one CSV (kaggle, measurements, summary)",
  request: { params: jobParams, query: resultQuerySchema },
  responses: {
    200: {
      description: "The result",
      content: {
        "application/json": { schema: z.union([resultLinkSchema, z.unknown()]) },
        "text/csv": { schema: z.string() },
        "application/geo+json": { schema: z.unknown() },
        "image/png": { schema: binarySchema },
      },
    },
    302: { description: "A time-limited link to the result (AWS)" },
    400: errorResponse("The query is malformed, or a job of several images needs ?file="),
    404: errorResponse("No job has this id, or the job has no such file"),
    409: errorResponse(
      "The result is not ready yet (result_not_ready), the image failed (image_failed), or it was segmented " +
        "before this format existed (result_not_in_run)",
    ),
  },
});

/** @example app.route("/", jobRoutes(jobsContext)) */
export function jobRoutes(context: JobsContext): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(createJobRoute, async (c) => c.json(await createJob(c.req.valid("json"), context), 201));

  app.openapi(jobViewRoute, async (c) => c.json(await readJob(c.req.valid("param").jobId, context), 200));

  app.openapi(resultRoute, async (c) => {
    const query = c.req.valid("query");
    const result = await jobResult(c.req.valid("param").jobId, query, context);
    const link = await context.links.download(result.key, {
      expiresInSeconds: context.settings.resultUrlTtlSeconds,
      fileName: result.fileName,
      contentType: result.contentType,
    });
    if (query.as === "link") {
      const self = new URL(c.req.url);
      self.searchParams.delete("as");
      const answer: ResultLink = {
        url: link ?? `${self.pathname.replace(/^.*?\/v1\//, "/v1/")}${self.search}`,
        signed: link !== undefined,
        fileName: result.fileName,
        contentType: result.contentType,
      };
      return c.json(answer, 200);
    }
    if (link !== undefined) return c.redirect(link, 302);
    // Streamed: a plate's merged measurements may be hundreds of MB.
    const body = await context.output.getStream(result.key);
    if (body === undefined) throw new Error(`${result.key} is missing although its status says it was written`);
    return c.body(body, 200, {
      "Content-Type": result.contentType,
      "Content-Disposition": contentDisposition(result.fileName),
    });
  });
  return app;
}
