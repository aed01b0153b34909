/**
 * `config.json`, served beside the console's page: where the API is and how to sign in. The local service
 * (functions/local/console-site.ts) and the CDK app (infra/constructs/web-console.ts) write it; the page
 * reads it with this schema. zod/mini keeps the schema out of the bundle's weight.
 */
import * as z from "zod/mini";

/** The API answers with or without a bearer token (`API_TOKEN`): the page asks for one on a 401. */
const bearerAuthSchema = z.object({ kind: z.literal("bearer") });

/**
 * AWS: sign in with the Cognito user pool's hosted UI (authorization code with PKCE), trade the ID token for
 * temporary IAM credentials from the identity pool, and sign every API request with them (SigV4).
 */
const cognitoAuthSchema = z.object({
  kind: z.literal("cognito"),
  region: z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d$/)),
  userPoolId: z.string().check(z.minLength(1)),
  userPoolClientId: z.string().check(z.minLength(1)),
  identityPoolId: z.string().check(z.minLength(1)),
  /** The hosted UI's base URL, `https://<prefix>.auth.<region>.amazoncognito.com`. */
  signInUrl: z.url(),
});

export const consoleConfigSchema = z.object({
  /** The API's base URL, under which `/v1/...` lies; "" for the page's own origin. */
  apiUrl: z.string(),
  auth: z.discriminatedUnion("kind", [bearerAuthSchema, cognitoAuthSchema]),
});
export type ConsoleConfig = z.infer<typeof consoleConfigSchema>;
export type CognitoAuthConfig = z.infer<typeof cognitoAuthSchema>;
