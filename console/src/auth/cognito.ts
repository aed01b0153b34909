/**
 * Sign-in in AWS: the Cognito user pool's hosted sign-in page (authorization code with PKCE; the user
 * pool asks for the password and the one-time code), then the identity pool trades the ID token for
 * temporary IAM credentials, with which every API request is signed (SigV4, aws4fetch). The tokens live
 * in sessionStorage (gone with the tab), the credentials in memory; both are renewed before they expire.
 */
import { AwsClient } from "aws4fetch";
import type { Authenticator } from "../api-client";
import type { CognitoAuthConfig } from "../console-config";

const SESSION_KEY = "cellseg.session";
const PENDING_KEY = "cellseg.signIn";
/** Renew credentials and tokens this long before they expire, so that no request goes out with stale ones. */
const RENEW_BEFORE_MS = 5 * 60_000;

interface Tokens {
  readonly idToken: string;
  readonly refreshToken?: string;
  readonly expiresAt: number;
}

interface Credentials {
  readonly client: AwsClient;
  readonly expiresAt: number;
}

/** Where the hosted page sends the user back: the console's own page (the user pool client's callback URL). */
const redirectUri = () => `${location.origin}/`;

export class CognitoAuth implements Authenticator {
  private credentials: Promise<Credentials> | undefined;

  private constructor(
    private readonly config: CognitoAuthConfig,
    private tokens: Tokens,
  ) {}

  /**
   * The session of this tab: just back from the hosted page (its `?code=`), or kept from before a reload;
   * undefined when the user must sign in.
   *
   * @throws Error when the hosted page's answer cannot be redeemed (a stale or forged link).
   */
  static async resume(config: CognitoAuthConfig): Promise<CognitoAuth | undefined> {
    const query = new URLSearchParams(location.search);
    const code = query.get("code");
    if (code !== null) {
      const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? "null") as {
        verifier: string;
        state: string;
        hash: string;
      } | null;
      sessionStorage.removeItem(PENDING_KEY);
      history.replaceState(null, "", `${location.pathname}${pending?.hash ?? ""}`);
      if (pending === null || query.get("state") !== pending.state)
        throw new Error("this sign-in link is not from this tab: sign in again");
      const tokens = await tokenRequest(config, {
        grant_type: "authorization_code",
        code,
        code_verifier: pending.verifier,
        redirect_uri: redirectUri(),
      });
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(tokens));
      return new CognitoAuth(config, tokens);
    }
    const kept = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null") as Tokens | null;
    return kept ? new CognitoAuth(config, kept) : undefined;
  }

  /** Goes to the hosted sign-in page; it comes back to this page with a code for {@link resume}. */
  static async signIn(config: CognitoAuthConfig): Promise<void> {
    const verifier = base64Url(crypto.getRandomValues(new Uint8Array(32)));
    const state = base64Url(crypto.getRandomValues(new Uint8Array(16)));
    const challenge = base64Url(
      new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
    );
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, hash: location.hash }));
    const query = new URLSearchParams({
      response_type: "code",
      client_id: config.userPoolClientId,
      redirect_uri: redirectUri(),
      scope: "openid email",
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    location.assign(`${config.signInUrl}/oauth2/authorize?${query}`);
  }

  /** The signed-in user's email (from the ID token). */
  get userName(): string {
    const payload = JSON.parse(atob(this.tokens.idToken.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as {
      email?: string;
      "cognito:username"?: string;
    };
    return payload.email ?? payload["cognito:username"] ?? "signed in";
  }

  signOut(): void {
    sessionStorage.removeItem(SESSION_KEY);
    const query = new URLSearchParams({ client_id: this.config.userPoolClientId, logout_uri: redirectUri() });
    location.assign(`${this.config.signInUrl}/logout?${query}`);
  }

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const { client } = await this.currentCredentials();
    return client.fetch(url, init);
  }

  /** IAM refuses with 403, never 401: nothing to ask the user; credentials are renewed before they expire. */
  async renew(): Promise<boolean> {
    return false;
  }

  private currentCredentials(): Promise<Credentials> {
    const valid = (credentials: Credentials) => credentials.expiresAt - RENEW_BEFORE_MS > Date.now();
    const current = this.credentials;
    if (current) {
      return current.then((credentials) => {
        if (valid(credentials)) return credentials;
        this.credentials = undefined;
        return this.currentCredentials();
      });
    }
    this.credentials = this.newCredentials().catch((error: unknown) => {
      this.credentials = undefined;
      throw error;
    });
    return this.credentials;
  }

  /** The identity pool's temporary credentials for the user's ID token (renewed first when it is about to expire). */
  private async newCredentials(): Promise<Credentials> {
    if (this.tokens.expiresAt - RENEW_BEFORE_MS <= Date.now()) {
      if (!this.tokens.refreshToken) throw new Error("the session has ended: sign in again");
      const renewed = await tokenRequest(this.config, {
        grant_type: "refresh_token",
        refresh_token: this.tokens.refreshToken,
      });
      this.tokens = { ...renewed, refreshToken: renewed.refreshToken ?? this.tokens.refreshToken };
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(this.tokens));
    }
    const { region, userPoolId, identityPoolId } = this.config;
    const logins = { [`cognito-idp.${region}.amazonaws.com/${userPoolId}`]: this.tokens.idToken };
    const { IdentityId } = await identityCall<{ IdentityId: string }>(region, "GetId", {
      IdentityPoolId: identityPoolId,
      Logins: logins,
    });
    const { Credentials } = await identityCall<{
      Credentials: { AccessKeyId: string; SecretKey: string; SessionToken: string; Expiration: number };
    }>(region, "GetCredentialsForIdentity", {
      IdentityId,
      Logins: logins,
    });
    return {
      client: new AwsClient({
        accessKeyId: Credentials.AccessKeyId,
        secretAccessKey: Credentials.SecretKey,
        sessionToken: Credentials.SessionToken,
        service: "execute-api",
        region,
      }),
      expiresAt: Credentials.Expiration * 1000,
    };
  }
}

/** The user pool's token endpoint (OAuth 2.0): a code or a refresh token for an ID token. */
async function tokenRequest(config: CognitoAuthConfig, form: Record<string, string>): Promise<Tokens> {
  const response = await fetch(`${config.signInUrl}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: config.userPoolClientId, ...form }),
  });
  const body = (await response.json().catch(() => ({}))) as {
    id_token?: string;
    refresh_token?: string;
    expires_in?: number;
    error?: string;
  };
  if (!response.ok || body.id_token === undefined)
    throw new Error(`sign-in failed (${body.error ?? response.status}): sign in again`);
  return {
    idToken: body.id_token,
    ...(body.refresh_token ? { refreshToken: body.refresh_token } : {}),
    expiresAt: Date.now() + (body.expires_in ?? 3600) * 1000,
  };
}

/** One call of the Cognito identity pool's API (unsigned: the ID token is the credential). */
async function identityCall<T>(region: string, action: string, body: unknown): Promise<T> {
  const response = await fetch(`https://cognito-identity.${region}.amazonaws.com/`, {
    method: "POST",
    headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": `AWSCognitoIdentityService.${action}` },
    body: JSON.stringify(body),
  });
  const answer = (await response.json().catch(() => ({}))) as T & { message?: string; __type?: string };
  if (!response.ok)
    throw new Error(
      `the identity pool refused credentials (${answer.__type ?? response.status}: ${answer.message ?? ""})`,
    );
  return answer;
}

function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}
