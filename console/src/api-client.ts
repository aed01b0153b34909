/**
 * The console's side of the HTTPS API (functions/api): the routes it calls, typed by the API's own
 * boundary schemas (core/schemas/api.ts; types only, so no server code reaches the bundle), with every
 * request made through the sign-in in use (a bearer token locally, SigV4 in AWS).
 */
import type { CreateJobResponse, JobView, ResultFormat, ResultLink } from "../../core/schemas/api";

/** Makes requests to the API with the credentials of the sign-in in use. */
export interface Authenticator {
  fetch(url: string, init?: RequestInit): Promise<Response>;
  /**
   * Called when the API answered 401: resolves true once new credentials are there to try again with,
   * false when the user gave up.
   */
  renew(): Promise<boolean>;
}

/** An error answer of the API (`{error: {code, message}}`), or a failure to reach it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The API's error body, or a sentence made from the status where the body is not the API's (a proxy's). */
export async function apiError(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown }; message?: unknown };
    if (typeof body.error?.message === "string")
      return new ApiError(response.status, String(body.error.code ?? "error"), body.error.message);
    // API Gateway's own answers (IAM refused the signature, throttling) are {message}.
    if (typeof body.message === "string") return new ApiError(response.status, "gateway", body.message);
  } catch {
    // Not JSON: fall through to the status line.
  }
  return new ApiError(
    response.status,
    "http_error",
    `the service answered ${response.status} ${response.statusText}`.trim(),
  );
}

export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly auth: Authenticator,
  ) {}

  /** An absolute URL of an API path (`/v1/...`): links in the API's answers are relative to its base URL. */
  url(path: string): string {
    return this.baseUrl.replace(/\/+$/, "") + path;
  }

  /** A request to the API; an error answer is thrown as {@link ApiError}, a 401 renews credentials and retries. */
  async request(path: string, init: RequestInit = {}): Promise<Response> {
    for (;;) {
      let response: Response;
      try {
        response = await this.auth.fetch(this.url(path), init);
      } catch (error) {
        throw new ApiError(
          0,
          "unreachable",
          `the service cannot be reached (${error instanceof Error ? error.message : String(error)})`,
        );
      }
      if (response.status === 401 && (await this.auth.renew())) continue;
      if (!response.ok) throw await apiError(response);
      return response;
    }
  }

  async createJob(files: readonly string[]): Promise<CreateJobResponse> {
    const response = await this.request("/v1/jobs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ files }),
    });
    return (await response.json()) as CreateJobResponse;
  }

  async job(jobId: string): Promise<JobView> {
    return (await (await this.request(`/v1/jobs/${encodeURIComponent(jobId)}`)).json()) as JobView;
  }

  /** Where to fetch a result given by its link in the job view (`/v1/jobs/{id}/result?format=...`). */
  async resultLink(resultPath: string): Promise<ResultLink> {
    const separator = resultPath.includes("?") ? "&" : "?";
    return (await (await this.request(`${resultPath}${separator}as=link`)).json()) as ResultLink;
  }

  /** A result's bytes. */
  async fetchResult(resultPath: string): Promise<Response> {
    return this.fetchLink(await this.resultLink(resultPath));
  }

  /** Saves a result as a file, under the name the API gives it. */
  async download(resultPath: string): Promise<void> {
    const link = await this.resultLink(resultPath);
    const blob = await (await this.fetchLink(link)).blob();
    const url = URL.createObjectURL(blob);
    const anchor = Object.assign(document.createElement("a"), { href: url, download: link.fileName });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    // The click hands the blob to the download; a minute is ample before letting it go.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  /** A presigned link is fetched as it is (it carries its own signature), the API's own with the API's credentials. */
  private async fetchLink(link: ResultLink): Promise<Response> {
    if (!link.signed) return this.request(link.url);
    let response: Response;
    try {
      response = await fetch(link.url);
    } catch (error) {
      throw new ApiError(
        0,
        "unreachable",
        `the result cannot be fetched (${error instanceof Error ? error.message : String(error)})`,
      );
    }
    if (!response.ok) throw await apiError(response);
    return response;
  }
}

/** The result formats, in the order the console offers them, with what each one is. */
export const RESULT_DESCRIPTIONS: Readonly<Record<string, string>> = {
  kaggle: "Kaggle CSV",
  json: "Cells (JSON)",
  coco: "COCO JSON",
  labels: "Label image (16-bit PNG)",
  overlay: "Overlay (PNG)",
  preview: "Image (8-bit PNG)",
  measurements: "Measurements (CSV)",
  geojson: "Outlines (GeoJSON)",
  summary: "Summary (CSV)",
} satisfies Partial<Record<ResultFormat, string>>;
