/**
 * `POST /v1/segment`: one small image segmented while the client waits, through the same endpoint,
 * tiling and stitching as a job, without storing anything. For plates and large images, create a job.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { formatSubmissionRows, SUBMISSION_CSV_HEADER } from "../../../core/kaggle/csv";
import { measuredResults } from "../../../core/outputs/image-results";
import { labelMap } from "../../../core/outputs/label-png";
import { MEASUREMENTS_CSV_HEADER, SUMMARY_CSV_HEADER } from "../../../core/outputs/measurements-csv";
import { RESULT_CONTENT_TYPES } from "../../../core/schemas/object-keys";
import { RESULT_FORMATS, segmentQuerySchema } from "../../../core/schemas/api";
import { instancesDocumentSchema } from "../../../core/schemas/job-documents";
import type { SegmentationEndpoint } from "../../pipeline/endpoint/endpoint";
import { segmentImage, type SegmentImageOptions } from "../../pipeline/segment-image";
import { ApiRequestError } from "../errors";
import { limitBody } from "./body-limit";
import { binarySchema, errorResponse } from "./openapi-parts";

/** What the body may be: the formats the decoder reads, or bytes of no declared type. */
const IMAGE_MEDIA_TYPES = ["image/png", "image/tiff", "image/jpeg", "application/octet-stream"] as const;

/** `POST /v1/segment`: an image small enough to segment while the client waits. */
export interface SyncSegmentation {
  readonly endpoint: SegmentationEndpoint;
  readonly options: Omit<SegmentImageOptions, "onRetry" | "profile">;
  readonly maxBytes: number;
}

const segmentRoute = (maxBytes: number) =>
  createRoute({
    method: "post",
    path: "/v1/segment",
    summary: "Segment one small image synchronously (the body is the image's bytes)",
    middleware: [limitBody(maxBytes)] as const,
    request: {
      query: segmentQuerySchema,
      body: {
        required: true,
        content: Object.fromEntries(IMAGE_MEDIA_TYPES.map((type) => [type, { schema: binarySchema }])),
      },
    },
    responses: {
      200: {
        description:
          "Every cell: instances.json (format=json), Kaggle CSV rows (kaggle), measurements.csv (measurements), " +
          "the summary.csv row (summary) or the outlines (geojson), each with its header",
        content: {
          "application/json": { schema: instancesDocumentSchema },
          "text/csv": { schema: z.string() },
          "application/geo+json": { schema: z.unknown() },
        },
      },
      400: errorResponse("Not an image, or a malformed query"),
      413: errorResponse("The body or the image is larger than the synchronous limits: create a job instead"),
      415: errorResponse("The body is not PNG, TIFF or JPEG"),
      503: errorResponse("The model endpoint is busy or starting: retry after Retry-After seconds"),
    },
  });

/** @example app.route("/", segmentRoutes({ endpoint, options, maxBytes: 4 * 1024 * 1024 })) */
export function segmentRoutes(segmentation: SyncSegmentation): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(segmentRoute(segmentation.maxBytes), async (c) => {
    const mediaType = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (!(IMAGE_MEDIA_TYPES as readonly string[]).includes(mediaType)) {
      throw new ApiRequestError(
        415,
        "unsupported_media_type",
        `send the image's bytes as one of ${IMAGE_MEDIA_TYPES.join(", ")}`,
      );
    }
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.length === 0)
      throw new ApiRequestError(400, "invalid_image", "the body is empty: send the image's bytes");
    const query = c.req.valid("query");
    const imageId = query.id ?? "image";
    const { document, instances, image } = await segmentImage(
      bytes,
      segmentation.endpoint,
      { imageId, fileName: imageId },
      { ...segmentation.options, ...(query.profile ? { profile: query.profile } : {}) },
    );
    if (query.format === "json") return c.json(document, 200);
    const contentType = { "Content-Type": RESULT_CONTENT_TYPES[RESULT_FORMATS[query.format]] };
    if (query.format === "kaggle")
      return c.text(SUBMISSION_CSV_HEADER + formatSubmissionRows(imageId, instances), 200, contentType);
    const labels = labelMap(instances, image.width, image.height);
    const measured = measuredResults(imageId, imageId, image, instances, labels, query.pixelSizeUm);
    if (query.format === "measurements")
      return c.text(MEASUREMENTS_CSV_HEADER + measured.measurementRows, 200, contentType);
    if (query.format === "summary") return c.text(SUMMARY_CSV_HEADER + measured.summaryRow, 200, contentType);
    return c.body(JSON.stringify(measured.outlines), 200, contentType);
  });
  return app;
}
