/**
 * The web console as `npm start` serves it, at the API's own address (`http://127.0.0.1:3000/`): built
 * from console/ in memory at each start, so what runs is always the source as it is. Its config.json
 * points it at the same origin and at the optional bearer token; in AWS CloudFront serves the same files.
 * Requests for anything else go on to the API.
 */
import { Hono } from "hono";
import { buildConsole } from "../../console/build";
import type { ConsoleConfig } from "../../console/src/console-config";

export interface ConsoleSiteOptions {
  /** Origins besides the page's own the page may fetch from: the local S3 server of presigned links. */
  readonly connectOrigins?: readonly string[];
}

/**
 * The console's security headers: scripts, styles and fetches from this origin only (plus presigned
 * storage links), images also from blobs (results being drawn), no framing.
 */
export function consoleSecurityHeaders(connectOrigins: readonly string[] = []): Record<string, string> {
  return {
    "Content-Security-Policy": [
      "default-src 'self'",
      `connect-src 'self' ${connectOrigins.join(" ")}`.trim(),
      "img-src 'self' blob: data:",
      "style-src 'self'",
      "script-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'self'",
    ].join("; "),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
  };
}

/**
 * @example
 * ```ts
 * const site = await consoleSite((request) => api.fetch(request));
 * serve({ fetch: site.fetch, port: 3000 });
 * ```
 */
export async function consoleSite(
  api: (request: Request) => Response | Promise<Response>,
  options: ConsoleSiteOptions = {},
): Promise<Hono> {
  const files = new Map((await buildConsole()).map((file) => [file.path, file]));
  const config: ConsoleConfig = { apiUrl: "", auth: { kind: "bearer" } };
  const headers = consoleSecurityHeaders(options.connectOrigins);
  const site = new Hono();
  const serveFile = (path: string) => {
    const file = files.get(path)!;
    return new Response(file.body, {
      headers: {
        ...headers,
        "Content-Type": file.contentType,
        "Cache-Control": file.immutable ? "public, max-age=31536000, immutable" : "no-cache",
      },
    });
  };
  site.get("/", () => serveFile("index.html"));
  site.get("/index.html", () => serveFile("index.html"));
  site.get("/config.json", (c) => c.json(config, 200, { ...headers, "Cache-Control": "no-cache" }));
  site.get("/assets/:name", (c) =>
    files.has(`assets/${c.req.param("name")}`) ? serveFile(`assets/${c.req.param("name")}`) : api(c.req.raw),
  );
  site.notFound((c) => api(c.req.raw));
  return site;
}
