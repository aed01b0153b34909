/**
 * Retries with capped exponential backoff and full jitter
 * (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/): attempt n waits a random
 * time in [0, min(maxDelayMs, baseDelayMs * 2^(n-1))], or at least what the server asked for.
 */
import { setTimeout as sleep } from "node:timers/promises";

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export interface RetryHooks {
  /** Whether the error is worth another attempt. */
  readonly isRetryable: (error: unknown) => boolean;
  /** A delay the failure asked for (Retry-After), honoured up to `maxDelayMs`. */
  readonly requestedDelayMs?: (error: unknown) => number | undefined;
  /** Called before each wait, e.g. to log or count retries. */
  readonly onRetry?: (event: { error: unknown; attempt: number; delayMs: number }) => void;
  /** A number in [0, 1); tests pass a fixed one. @default Math.random */
  readonly random?: () => number;
  /** Stops the waiting (and the retries) early. */
  readonly signal?: AbortSignal;
}

/**
 * Runs `operation` until it succeeds, fails with an error that is not retryable, or has failed
 * `maxAttempts` times; then throws the last error.
 *
 * @example
 * ```ts
 * const answer = await withRetries(
 *   (attempt) => invokeOnce(tile),
 *   { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 10_000 },
 *   { isRetryable: (error) => error instanceof EndpointUnavailableError },
 * );
 * ```
 */
export async function withRetries<T>(
  operation: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  hooks: RetryHooks,
): Promise<T> {
  const random = hooks.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= policy.maxAttempts || !hooks.isRetryable(error)) throw error;
      const delayMs = backoffDelayMs(attempt, policy, random(), hooks.requestedDelayMs?.(error));
      hooks.onRetry?.({ error, attempt, delayMs });
      await sleep(delayMs, undefined, { signal: hooks.signal });
    }
  }
}

/**
 * The wait after failed attempt `attempt` (1-based).
 *
 * @example
 * ```ts
 * backoffDelayMs(3, { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 }, 0.5); // 200: half of 100 * 2^2
 * ```
 */
export function backoffDelayMs(attempt: number, policy: RetryPolicy, random: number, requestedMs?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const jittered = Math.floor(random * ceiling);
  return Math.min(policy.maxDelayMs, Math.max(jittered, requestedMs ?? 0));
}
