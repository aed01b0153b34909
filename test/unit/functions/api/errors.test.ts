import { HTTPException } from "hono/http-exception";
import { describe, expect, it } from "vitest";
import { ImageTooLargeError, InvalidImageError } from "../../../../core/errors";
import { apiErrorSchema } from "../../../../core/schemas/api";
import { ApiRequestError, RETRY_AFTER_SECONDS, toApiError } from "../../../../functions/api/errors";
import { JobNotFoundError, JobRequestError, ResultNotAvailableError } from "../../../../functions/jobs/errors";
import { UploadTokenError } from "../../../../functions/jobs/errors";
import {
  EndpointProtocolError,
  EndpointRejectedError,
  EndpointUnavailableError,
} from "../../../../functions/pipeline/endpoint/errors";
import { sageMakerRuntimeError } from "../../../../functions/pipeline/endpoint/sagemaker-endpoint";
import { StoredDocumentError } from "../../../../functions/pipeline/storage/errors";

describe("toApiError", () => {
  it(
    "answers an endpoint refusal that is not about the image as the deployment's fault (500), " +
      "keeping its text out",
    () => {
      const answer = toApiError(
        new EndpointRejectedError("refused: arn:aws:iam::123456789012:role/x", { status: 422 }),
      );
      expect(answer).toMatchObject({ status: 500, logLevel: "error", body: { error: { code: "internal" } } });
      expect(JSON.stringify(answer.body)).not.toContain("arn:aws");
    },
  );

  it.each([
    [
      "ApiRequestError",
      new ApiRequestError(413, "payload_too_large", "too big", { maxBytes: 10 }),
      413,
      "payload_too_large",
    ],
    ["JobNotFoundError", new JobNotFoundError("job-1"), 404, "job_not_found"],
    ["JobRequestError too_many_files", new JobRequestError("too_many_files", "too many"), 400, "too_many_files"],
    ["JobRequestError file_required", new JobRequestError("file_required", "which file?"), 400, "file_required"],
    ["JobRequestError unknown_file", new JobRequestError("unknown_file", "no such file"), 404, "unknown_file"],
    [
      "ResultNotAvailableError result_not_ready",
      new ResultNotAvailableError("result_not_ready", "not yet"),
      409,
      "result_not_ready",
    ],
    [
      "ResultNotAvailableError image_failed",
      new ResultNotAvailableError("image_failed", "failed"),
      409,
      "image_failed",
    ],
    ["UploadTokenError", new UploadTokenError("expired"), 403, "invalid_upload_token"],
    ["ImageTooLargeError", new ImageTooLargeError("too many pixels"), 413, "image_too_large"],
    ["InvalidImageError", new InvalidImageError("not an image"), 400, "invalid_image"],
    [
      "EndpointRejectedError image_too_large",
      new EndpointRejectedError("tile too big", { status: 413, code: "image_too_large" }),
      413,
      "image_too_large",
    ],
    [
      "EndpointRejectedError with a code",
      new EndpointRejectedError("bad tile", { status: 400, code: "invalid_image" }),
      400,
      "invalid_image",
    ],
    ["HTTPException 415", new HTTPException(415, { message: "Unsupported Media Type" }), 415, "unsupported_media_type"],
    [
      "HTTPException 400",
      new HTTPException(400, { message: "Malformed JSON in request body" }),
      400,
      "invalid_request",
    ],
  ])("maps %s to %i %s, passing the message on", (_, error, status, code) => {
    // Act
    const answer = toApiError(error);

    // Assess
    expect(answer.status).toBe(status);
    expect(answer.body.error.code).toBe(code);
    expect(answer.body.error.message).toBe(error.message);
    expect(answer.logLevel).toBe("warn");
    expect(answer.headers).toEqual({});
    expect(apiErrorSchema.parse(answer.body)).toEqual(answer.body);
  });

  it("passes details on where the error has them, and leaves the field out where it has none", () => {
    expect(toApiError(new JobRequestError("unknown_file", "no", { files: ["a.png"] })).body.error.details).toEqual({
      files: ["a.png"],
    });
    expect(toApiError(new ApiRequestError(400, "invalid_request", "bad", { issues: [] })).body.error.details).toEqual({
      issues: [],
    });
    expect(toApiError(new JobNotFoundError("job-1")).body.error).not.toHaveProperty("details");
  });

  it("answers 503 endpoint_unavailable with Retry-After when the endpoint is busy", () => {
    // Act
    const answer = toApiError(new EndpointUnavailableError("throttled", { status: 429, retryAfterMs: 30_000 }));

    // Assess
    expect(answer.status).toBe(503);
    expect(answer.body.error).toEqual({ code: "endpoint_unavailable", message: "throttled" });
    expect(answer.headers).toEqual({ "Retry-After": String(RETRY_AFTER_SECONDS) });
    expect(answer.logLevel).toBe("warn");
  });

  it.each([
    ["a plain Error", new Error("ENOENT: /var/secret/path/status.json")],
    ["a storage failure", new StoredDocumentError("s3://bucket/jobs/x/job.json is not JSON")],
    ["an endpoint protocol error", new EndpointProtocolError("the endpoint answered <html>")],
    ["a thrown string", "boom"],
    ["undefined", undefined],
  ])("answers 500 internal for %s, without its message", (_, error) => {
    // Act
    const answer = toApiError(error);

    // Assess
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({
      error: { code: "internal", message: "the request failed unexpectedly; it has been logged" },
    });
    expect(answer.logLevel).toBe("error");
  });

  // errors.ts promises "a mistake the client can fix is a 4xx ... anything unexpected is a 500 whose body
  // says nothing internal". SageMaker refusing the API's own role (403 AccessDeniedException) is a
  // deployment fault, yet EndpointRejectedError maps to 400 with SageMaker's message, role ARN included.
  it(
    "does not answer a deployment fault of the endpoint (SageMaker AccessDenied) as the client's 400, " +
      "nor leak the role ARN",
    () => {
      // Prepare
      const denied = sageMakerRuntimeError(
        {
          name: "AccessDeniedException",
          message:
            "User: arn:aws:sts::123456789012:assumed-role/cellseg-api/fn is not authorized to perform: " +
            "sagemaker:InvokeEndpoint",
          $metadata: { httpStatusCode: 403 },
        },
        "cellseg-endpoint",
      );

      // Act
      const answer = toApiError(denied);

      // Assess
      expect(answer.status).toBeGreaterThanOrEqual(500);
      expect(answer.body.error.message).not.toContain("arn:aws");
    },
  );
});
