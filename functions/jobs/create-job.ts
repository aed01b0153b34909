/**
 * `POST /v1/jobs`: a new job with one upload link per image. The job's manifest (the files it expects) is
 * stored first, so that its status can tell an image still to be uploaded from one that never will be;
 * uploading an image then starts its segmentation, as any upload to `input/<jobId>/` does.
 */
import { randomUUID } from "node:crypto";
import pLimit from "p-limit";
import type { CreateJobRequest, CreateJobResponse, JobManifest } from "../../core/schemas/api";
import { inputKey, jobKeys } from "../../core/schemas/object-keys";
import { putJson } from "../pipeline/storage/storage";
import type { JobsContext } from "./context";
import { JobRequestError } from "./errors";

/** Presigning is local computation for S3, but a local signer may do I/O: bound it all the same. */
const LINK_CONCURRENCY = 64;

/**
 * @throws JobRequestError when the job holds more files than the deployment allows.
 * @example
 * ```ts
 * const job = await createJob({ files: ["A01.tif", "A02.tif"] }, context);
 * for (const upload of job.uploads) {
 *   await fetch(upload.url, { method: "PUT", headers: upload.headers, body: await readFile(upload.fileName) });
 * }
 * ```
 */
export async function createJob(request: CreateJobRequest, context: JobsContext): Promise<CreateJobResponse> {
  const files = request.files ?? [request.filename!];
  const { maxFilesPerJob, uploadUrlTtlSeconds } = context.settings;
  if (files.length > maxFilesPerJob) {
    throw new JobRequestError(
      "too_many_files",
      `a job holds at most ${maxFilesPerJob} files; split the ${files.length} into several jobs`,
      {
        maxFilesPerJob,
        files: files.length,
      },
    );
  }
  const now = (context.now ?? (() => new Date()))();
  const jobId = (context.newJobId ?? randomUUID)();
  const manifest: JobManifest = {
    schemaVersion: 1,
    jobId,
    createdAt: now.toISOString(),
    files,
    ...(request.pixelSizeUm !== undefined ? { pixelSizeUm: request.pixelSizeUm } : {}),
  };
  await putJson(context.output, jobKeys(jobId).manifest, manifest);

  const limit = pLimit(LINK_CONCURRENCY);
  const uploads = await Promise.all(
    files.map((fileName) =>
      limit(async () => {
        const link = await context.links.upload(inputKey(jobId, fileName), uploadUrlTtlSeconds);
        return { fileName, url: link.url, method: "PUT" as const, headers: { ...link.headers } };
      }),
    ),
  );
  return {
    jobId,
    statusUrl: `/v1/jobs/${jobId}`,
    expiresAt: new Date(now.getTime() + uploadUrlTtlSeconds * 1000).toISOString(),
    uploads,
    ...(request.filename !== undefined ? { uploadUrl: uploads[0]!.url } : {}),
  };
}
