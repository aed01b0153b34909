/**
 * What `POST /invocations` does between HTTP and the domain: read the request (raw image bytes or JSON),
 * choose the answer's format, segment, and shape the answer. The route in app.ts only wires these up.
 */
import { decodeImage } from "../../../core/image/decode";
import { SUBMISSION_CSV_HEADER, formatSubmissionRows } from "../../../core/kaggle/csv";
import { encodeKaggleRle } from "../../../core/masks/kaggle-rle";
import {
  invocationRequestSchema,
  type InvocationResponse,
  type ThresholdOverrides,
  type TileOrigin,
} from "../../../core/schemas/endpoint";
import type { Profile } from "../../../core/schemas/manifest";
import type { Instance } from "../../../core/types";
import { InvalidRequestError, NotAcceptableError, UnsupportedMediaTypeError } from "./errors";
import type { ServedModels } from "./inference-pool";

/** The Content-Types `POST /invocations` reads. */
export const IMAGE_MEDIA_TYPES = ["image/png", "image/tiff", "image/jpeg"] as const;
export const JSON_MEDIA_TYPE = "application/json";

/** The formats `POST /invocations` answers in, by the request's Accept header. */
export const RESPONSE_FORMATS = { json: "application/json", csv: "text/csv" } as const;
export type ResponseFormat = keyof typeof RESPONSE_FORMATS;

/** A request, read and validated, before decoding. */
export interface InvocationInput {
  readonly bytes: Uint8Array;
  readonly profile: Profile | undefined;
  readonly thresholds: ThresholdOverrides | undefined;
  readonly tileOrigin: TileOrigin | undefined;
  readonly id: string;
}

/** The id of CSV rows when the request names none. */
export const DEFAULT_IMAGE_ID = "image";

/**
 * The media type of a Content-Type header, lower-cased and without parameters.
 *
 * @example
 * mediaType("Application/JSON; charset=utf-8"); // "application/json"
 */
export function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0].trim().toLowerCase();
}

/**
 * Refuses a Content-Type the endpoint does not read; done before the body is read.
 * @throws UnsupportedMediaTypeError
 */
export function checkContentType(header: string | undefined): void {
  const type = mediaType(header);
  if (type === JSON_MEDIA_TYPE || (IMAGE_MEDIA_TYPES as readonly string[]).includes(type)) return;
  const expected = [...IMAGE_MEDIA_TYPES, JSON_MEDIA_TYPE].join(", ");
  throw new UnsupportedMediaTypeError(
    type === ""
      ? `the request has no Content-Type; expected one of ${expected}`
      : `Content-Type ${type} is not supported; expected one of ${expected}`,
  );
}

/**
 * The answer's format by the Accept header: JSON unless text/csv is preferred; JSON wins ties, and a
 * missing header means JSON.
 *
 * @throws NotAcceptableError when the header allows neither.
 * @example
 * responseFormat("text/csv"); // "csv"
 * responseFormat("application/json;q=0.5, text/csv"); // "csv"
 * responseFormat(undefined); // "json"
 */
export function responseFormat(accept: string | undefined): ResponseFormat {
  if (accept === undefined || accept.trim() === "") return "json";
  const ranges = accept.split(",").map((part) => {
    const [range, ...params] = part.split(";").map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith("q="));
    const quality = q === undefined ? 1 : Number(q.slice(2));
    return { range, quality: Number.isFinite(quality) ? quality : 0 };
  });
  // RFC 9110 12.5.1: the most specific matching range decides a type's quality.
  const qualityOf = (type: string): number => {
    const [major] = type.split("/");
    for (const candidate of [type, `${major}/*`, "*/*"]) {
      const match = ranges.find((r) => r.range === candidate);
      if (match) return match.quality;
    }
    return 0;
  };
  const json = qualityOf(RESPONSE_FORMATS.json);
  const csv = qualityOf(RESPONSE_FORMATS.csv);
  if (json <= 0 && csv <= 0) {
    throw new NotAcceptableError(
      `Accept: ${accept} allows no format this endpoint writes (${Object.values(RESPONSE_FORMATS).join(", ")})`,
    );
  }
  return csv > json ? "csv" : "json";
}

/**
 * Reads a request body: raw image bytes as they are, JSON through {@link invocationRequestSchema}.
 *
 * @throws InvalidRequestError for malformed JSON or a field out of bounds, naming each problem.
 */
export async function readInvocationInput(
  contentType: string | undefined,
  body: () => Promise<ArrayBuffer>,
): Promise<InvocationInput> {
  const bytes = new Uint8Array(await body());
  if (mediaType(contentType) !== JSON_MEDIA_TYPE) {
    return { bytes, profile: undefined, thresholds: undefined, tileOrigin: undefined, id: DEFAULT_IMAGE_ID };
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new InvalidRequestError(`the body is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = invocationRequestSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`);
    throw new InvalidRequestError(`invalid request: ${problems.join("; ")}`);
  }
  const request = parsed.data;
  return {
    bytes: Buffer.from(request.image, "base64"),
    profile: request.profile,
    thresholds: request.thresholds,
    tileOrigin: request.tileOrigin,
    id: request.id ?? DEFAULT_IMAGE_ID,
  };
}

/** A segmented request, ready to be written as JSON or CSV. */
export interface Segmented {
  readonly profile: Profile;
  readonly width: number;
  readonly height: number;
  readonly instances: readonly Instance[];
  readonly timings: { decodeMs: number; normalizeMs: number; inferenceMs: number; postprocessMs: number };
}

/**
 * The profile a request runs with: its own, or the server's default.
 *
 * @throws InvalidRequestError when the request names a profile the server did not load.
 */
export function requestProfile(models: ServedModels, input: InvocationInput, defaultProfile: Profile): Profile {
  const profile = input.profile ?? defaultProfile;
  if (!models.profiles.includes(profile)) {
    throw new InvalidRequestError(`profile "${profile}" is not served here; served: ${models.profiles.join(", ")}`);
  }
  return profile;
}

/**
 * Decodes and segments one request's image. Runs inside an inference slot: decoding there too keeps the
 * decoded images in memory bounded by the concurrency, not by the number of waiting requests.
 *
 * @throws InvalidImageError, ImageTooLargeError from decoding.
 */
export async function segmentInput(
  models: ServedModels,
  input: InvocationInput,
  options: { readonly profile: Profile; readonly maxPixels: number; readonly signal: AbortSignal },
): Promise<Segmented> {
  const started = performance.now();
  const image = await decodeImage(input.bytes, { maxPixels: options.maxPixels });
  const decodeMs = performance.now() - started;
  // The request may have timed out while decoding: skip the expensive part.
  options.signal.throwIfAborted();
  const { instances, timings } = await models.segment(image, options.profile, input.thresholds);
  return {
    profile: options.profile,
    width: image.width,
    height: image.height,
    instances,
    timings: { decodeMs, ...timings },
  };
}

/** The provider every member runs on: `cuda` only when all of them do. */
export function servedExecutionProvider(models: ServedModels): "cuda" | "cpu" {
  return models.members.length > 0 && models.members.every((member) => member.executionProvider === "cuda")
    ? "cuda"
    : "cpu";
}

/**
 * The JSON answer, with RLEs over the request image (not shifted by the tile origin, which is echoed).
 * `totalMs` runs from `times.receivedAt` to now; `queueMs` is the queue's.
 */
export function toInvocationResponse(
  models: ServedModels,
  input: InvocationInput,
  result: Segmented,
  times: { readonly queueMs: number; readonly receivedAt: number },
): InvocationResponse {
  const encodeStarted = performance.now();
  const instances = result.instances.map((instance) => ({
    cellType: instance.cellType,
    score: instance.score,
    box: [instance.box[0], instance.box[1], instance.box[2], instance.box[3]] as [number, number, number, number],
    area: instance.area,
    rle: encodeKaggleRle(instance.mask),
  }));
  const encodeMs = performance.now() - encodeStarted;
  return {
    modelVersion: models.manifest.version,
    manifestSha256: models.manifestSha256,
    profile: result.profile,
    executionProvider: servedExecutionProvider(models),
    width: result.width,
    height: result.height,
    ...(input.tileOrigin ? { tileOrigin: input.tileOrigin } : {}),
    cellType: result.instances[0]?.cellType ?? null,
    instances,
    timings: { ...result.timings, encodeMs, queueMs: times.queueMs, totalMs: performance.now() - times.receivedAt },
  };
}

/**
 * The `text/csv` answer: a Kaggle submission (header and this image's rows), and its encoding time.
 */
export function toSubmissionCsv(input: InvocationInput, result: Segmented): { csv: string; encodeMs: number } {
  const started = performance.now();
  const csv = SUBMISSION_CSV_HEADER + formatSubmissionRows(input.id, result.instances);
  return { csv, encodeMs: performance.now() - started };
}
