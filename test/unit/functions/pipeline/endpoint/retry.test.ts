import { describe, expect, it } from "vitest";
import { backoffDelayMs, withRetries } from "../../../../../functions/pipeline/endpoint/retry";

const policy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000 };

describe("backoffDelayMs", () => {
  it.each([
    [1, 0.5, undefined, 50],
    [3, 0.5, undefined, 200],
    [3, 0.999, undefined, 399],
    [10, 0.5, undefined, 500],
    [1, 0, 300, 300],
    [1, 0, 5000, 1000],
  ])("waits after attempt %i (random %f, asked %s) %i ms", (attempt, random, requested, expected) => {
    expect(backoffDelayMs(attempt, policy, random, requested)).toBe(expected);
  });
});

describe("withRetries", () => {
  const transient = Object.assign(new Error("busy"), { retryable: true });

  it("retries retryable failures until the operation succeeds", async () => {
    // Prepare
    const waits: number[] = [];
    let calls = 0;

    // Act
    const result = await withRetries(
      async () => {
        calls++;
        if (calls < 3) throw transient;
        return "done";
      },
      { ...policy, baseDelayMs: 1, maxDelayMs: 5 },
      { isRetryable: (e) => e === transient, onRetry: ({ delayMs }) => waits.push(delayMs), random: () => 0.5 },
    );

    // Assess
    expect(result).toBe("done");
    expect(calls).toBe(3);
    expect(waits).toHaveLength(2);
  });

  it("gives up after maxAttempts with the last error", async () => {
    // Prepare
    let calls = 0;

    // Act
    const attempt = withRetries(
      async () => {
        calls++;
        throw transient;
      },
      { ...policy, baseDelayMs: 0 },
      { isRetryable: () => true },
    );

    // Assess
    await expect(attempt).rejects.toBe(transient);
    expect(calls).toBe(4);
  });

  it("throws a failure that is not retryable at once", async () => {
    // Prepare
    let calls = 0;
    const refusal = new Error("bad request");

    // Act
    const attempt = withRetries(
      async () => {
        calls++;
        throw refusal;
      },
      policy,
      { isRetryable: () => false },
    );

    // Assess
    await expect(attempt).rejects.toBe(refusal);
    expect(calls).toBe(1);
  });
});
