/**
 * The local service's optional bearer token (`API_TOKEN`): asked for when the API first answers 401, kept
 * in sessionStorage only, so it is gone when the tab closes.
 */
import type { Authenticator } from "../api-client";

const TOKEN_KEY = "cellseg.apiToken";

/**
 * Asks the user for the token; `rejected` says whether the last one was refused. Resolves undefined when
 * the user gives up.
 */
export type AskToken = (rejected: boolean) => Promise<string | undefined>;

export class BearerTokenAuth implements Authenticator {
  /** One question at a time, however many requests were refused together. */
  private asking: Promise<boolean> | undefined;

  constructor(private readonly askToken: AskToken) {}

  fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = new Headers(init.headers);
    if (token !== null) headers.set("Authorization", `Bearer ${token}`);
    return fetch(url, { ...init, headers });
  }

  renew(): Promise<boolean> {
    this.asking ??= this.askToken(sessionStorage.getItem(TOKEN_KEY) !== null)
      .then((token) => {
        if (token === undefined || token.trim() === "") return false;
        sessionStorage.setItem(TOKEN_KEY, token.trim());
        return true;
      })
      .finally(() => (this.asking = undefined));
    return this.asking;
  }
}
