/**
 * The HTTPS API: one hono app, served by API Gateway + Lambda in AWS (handler.ts) and by the local stack
 * on this machine (functions/local). Routes are thin: they validate with the boundary's schemas
 * (core/schemas/api.ts), call the jobs domain or the segmentation, and answer; errors are thrown and
 * mapped in one place (errors.ts). The routes' definitions are also the OpenAPI document
 * (`GET /v1/openapi.json`).
 *
 * Auth: in AWS, API Gateway checks IAM (SigV4) before the function runs. Locally, `bearerToken` (when
 * set) guards every route but the OpenAPI document, the health check and signed uploads.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { bearerAuth } from "hono/bearer-auth";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { BROWSER_REQUEST_HEADERS } from "../../core/schemas/api";
import type { JobsContext } from "../jobs/context";
import { errorFields } from "../../plumbing/error-fields";
import type { Logger } from "../../plumbing/logger";
import { ApiRequestError, toApiError } from "./errors";
import { jobRoutes } from "./routes/jobs";
import { segmentRoutes, type SyncSegmentation } from "./routes/segment";
import { uploadRoutes, type ApiUploads } from "./routes/uploads";

export interface ApiDeps {
  readonly jobs: JobsContext;
  readonly segment: SyncSegmentation;
  readonly uploads?: ApiUploads;
  readonly bearerToken?: string;
  /** Origins whose pages may call the API (the deployed web console's); none: same-origin pages only. */
  readonly corsAllowOrigins?: readonly string[];
  readonly logger: Logger;
}

/** Routes anyone may call: the API's description, its health, and uploads (their link is their key). */
const PUBLIC_PATHS = [/^\/v1\/openapi\.json$/, /^\/health$/, /^\/v1\/uploads\//];

/** An upload link's token is a credential (it lets anyone write that file): never into the logs. */
function loggedPath(path: string): string {
  return path.replace(/^(\/v1\/uploads\/)[^/]+/, "$1<token>");
}

/**
 * @example
 * ```ts
 * const app = createApi(deps);
 * serve({ fetch: app.fetch, port: 3000 });         // locally (@hono/node-server)
 * export const handler = handle(createApi(deps));  // in Lambda (hono/aws-lambda)
 * ```
 */
export function createApi(deps: ApiDeps): OpenAPIHono {
  const { logger } = deps;
  const app = new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success) {
        const issues = result.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message }));
        throw new ApiRequestError(400, "invalid_request", z.prettifyError(result.error), { issues });
      }
    },
  });

  app.use(async (c, next) => {
    const started = performance.now();
    const requestId = c.req.header("x-request-id") ?? randomUUID();
    await next();
    // Set after the route ran, so that answers made outside it (bearer auth's 401) carry it too.
    c.res.headers.set("X-Request-Id", requestId);
    logger.info("request", {
      requestId,
      method: c.req.method,
      path: loggedPath(c.req.path),
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  });

  if (deps.corsAllowOrigins?.length) {
    // The web console signs every request (SigV4 headers): those headers must be allowed, and X-Request-Id
    // readable. In AWS, API Gateway answers the preflights itself (they carry no signature).
    app.use(
      cors({
        origin: [...deps.corsAllowOrigins],
        allowHeaders: [...BROWSER_REQUEST_HEADERS],
        exposeHeaders: ["X-Request-Id", "Retry-After"],
        maxAge: 3600,
      }),
    );
  }

  if (deps.bearerToken !== undefined) {
    const unauthorized = (message: string) => ({ error: { code: "unauthorized", message } });
    const guard = bearerAuth({
      token: deps.bearerToken,
      noAuthenticationHeader: { message: unauthorized("send `Authorization: Bearer <token>`") },
      invalidAuthenticationHeader: { message: unauthorized("the Authorization header must be `Bearer <token>`") },
      invalidToken: { message: unauthorized("the token is not valid") },
    });
    app.use(async (c, next) => {
      if (PUBLIC_PATHS.some((path) => path.test(c.req.path))) return next();
      // Credentials of another scheme (Basic, say) are no bearer credentials: a 401 challenge, as for none
      // (RFC 6750 §3: 400 invalid_request is for a malformed bearer request).
      if (!/^Bearer\s/i.test(c.req.header("Authorization") ?? "Bearer ")) {
        c.header("WWW-Authenticate", 'Bearer realm="cellseg"');
        return c.json(unauthorized("send `Authorization: Bearer <token>`"), 401);
      }
      return guard(c, next);
    });
  }

  app.get("/health", (c) => c.json({ status: "ok" }));
  // The address npm start prints: where to go from here.
  app.get("/v1", (c) =>
    c.json({
      service: "cellseg",
      openapi: "/v1/openapi.json",
      routes: ["POST /v1/jobs", "GET /v1/jobs/{jobId}", "GET /v1/jobs/{jobId}/result", "POST /v1/segment"],
    }),
  );
  // Each route module is a sub-app; its validation failures reach the defaultHook above, its errors onError below.
  app.route("/", jobRoutes(deps.jobs));
  app.route("/", segmentRoutes(deps.segment));
  if (deps.uploads) app.route("/", uploadRoutes(deps.uploads));

  app.doc31("/v1/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "cellseg",
      version: "1",
      description:
        "Instance segmentation of neuronal cells in phase-contrast microscopy. In AWS every route is signed " +
        "with SigV4 (IAM); " +
        "locally a bearer token is optional. Links in answers are relative to the API's base URL.",
    },
  });

  app.notFound((c) =>
    c.json({ error: { code: "not_found", message: `no route for ${c.req.method} ${c.req.path}` } }, 404),
  );
  app.onError((error, c) => {
    // Answers already made (bearer auth's 401 with its WWW-Authenticate header) pass as they are.
    if (error instanceof HTTPException && error.res) return error.getResponse();
    const { status, body, headers, logLevel } = toApiError(error);
    logger[logLevel]("request failed", {
      method: c.req.method,
      path: loggedPath(c.req.path),
      status,
      code: body.error.code,
      error: errorFields(error),
    });
    return c.json(body, status, headers);
  });
  return app;
}
