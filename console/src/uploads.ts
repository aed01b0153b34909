/**
 * Uploads a job's files to the links the API handed out (S3 presigned URLs in AWS, the local API's signed
 * links locally), a few at a time, each reporting its progress and its own failure: one file that cannot
 * be uploaded does not stop the others.
 */
import pLimit from "p-limit";
import type { UploadTarget } from "../../core/schemas/api";

/** Uploads at once: enough to fill a link, few enough that each file's bar moves. */
const PARALLEL_UPLOADS = 4;

export type UploadState =
  | { readonly state: "waiting"; readonly total: number }
  | { readonly state: "uploading"; readonly loaded: number; readonly total: number }
  | { readonly state: "uploaded"; readonly total: number }
  | { readonly state: "failed"; readonly total: number; readonly error: string };

/**
 * @example
 * ```ts
 * await uploadAll(created.uploads, filesByName, (name, state) => render(name, state));
 * ```
 */
export async function uploadAll(
  targets: readonly UploadTarget[],
  files: ReadonlyMap<string, File>,
  onState: (fileName: string, state: UploadState) => void,
): Promise<void> {
  const limit = pLimit(PARALLEL_UPLOADS);
  await Promise.all(
    targets.map((target) =>
      limit(async () => {
        const file = files.get(target.fileName)!;
        onState(target.fileName, { state: "uploading", loaded: 0, total: file.size });
        try {
          await putFile(target, file, (loaded) =>
            onState(target.fileName, { state: "uploading", loaded, total: file.size }),
          );
          onState(target.fileName, { state: "uploaded", total: file.size });
        } catch (error) {
          onState(target.fileName, {
            state: "failed",
            total: file.size,
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }),
    ),
  );
}

/** One PUT with upload progress (fetch reports none), failing with the storage's own reason. */
function putFile(target: UploadTarget, file: File, onProgress: (loaded: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(target.method, target.url);
    for (const [name, value] of Object.entries(target.headers)) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () =>
      request.status >= 200 && request.status < 300 ? resolve() : reject(new Error(uploadError(request)));
    request.onerror = () => reject(new Error("the upload was cut off (network error)"));
    request.send(file);
  });
}

/** The API's `{error: {message}}`, S3's `<Message>`, or the status. */
function uploadError(request: XMLHttpRequest): string {
  const text = request.responseText;
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === "string") return message;
  } catch {
    const s3Message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
    if (s3Message) return `storage refused the upload: ${s3Message}`;
  }
  return `the upload failed (${request.status} ${request.statusText})`;
}
