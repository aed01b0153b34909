import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { outputKeys } from "../../../../core/schemas/object-keys";
import { claimRun } from "../../../../functions/pipeline/claims";
import { LocalStorage } from "../../../../functions/pipeline/storage/local-storage";

const keys = outputKeys({ jobId: "job-1", fileName: "a.png" }, "0123456789abcdef0123");
const TTL_MS = 60_000;

describe("claimRun", () => {
  let storage: LocalStorage;

  beforeEach(async () => {
    storage = new LocalStorage(await mkdtemp(path.join(tmpdir(), "cellseg-claims-")));
  });

  it("gives an unclaimed run to the first claimer and refuses the next while the claim holds", async () => {
    // Act
    const first = await claimRun(storage, keys, { ttlMs: TTL_MS });
    const second = await claimRun(storage, keys, { ttlMs: TTL_MS });

    // Assess
    expect(first).toMatchObject({ acquired: true, claim: { generation: 0, key: `${keys.claimsPrefix}000000.json` } });
    expect(second).toMatchObject({ acquired: false, heldBy: first.acquired ? first.claim.owner : "" });
  });

  it(
    "lets the sole worker take over, at once, " + "a claim an earlier process left behind, and holds against itself",
    async () => {
      // Prepare: a run claimed by a local service that was then killed, and by the one running now.
      const killed = await claimRun(storage, keys, { ttlMs: TTL_MS, soleWorker: "process-1" });

      // Act
      const restarted = await claimRun(storage, keys, { ttlMs: TTL_MS, soleWorker: "process-2" });
      const again = await claimRun(storage, keys, { ttlMs: TTL_MS, soleWorker: "process-2" });
      const elsewhere = await claimRun(storage, keys, { ttlMs: TTL_MS });

      // Assess
      expect(killed).toMatchObject({ acquired: true, claim: { generation: 0 } });
      expect(restarted).toMatchObject({ acquired: true, claim: { generation: 1 } });
      expect(again).toMatchObject({ acquired: false });
      // Without a sole worker (Lambda), a claim holds until it expires, whoever made it.
      expect(elsewhere).toMatchObject({ acquired: false });
    },
  );

  it("gives a released run to the next claimer at once, under the next number", async () => {
    // Prepare
    const first = await claimRun(storage, keys, { ttlMs: TTL_MS });
    if (!first.acquired) throw new Error("not acquired");
    await first.claim.release();

    // Act
    const second = await claimRun(storage, keys, { ttlMs: TTL_MS });

    // Assess
    expect(second).toMatchObject({ acquired: true, claim: { generation: 1 } });
  });

  it("lets a claimer take over a claim whose worker died (expired)", async () => {
    // Prepare
    const start = new Date("2026-01-15T10:00:00Z");
    await claimRun(storage, keys, { ttlMs: TTL_MS, now: () => start });

    // Act
    const early = await claimRun(storage, keys, { ttlMs: TTL_MS, now: () => new Date(start.getTime() + TTL_MS - 1) });
    const late = await claimRun(storage, keys, { ttlMs: TTL_MS, now: () => new Date(start.getTime() + TTL_MS + 1) });

    // Assess
    expect(early.acquired).toBe(false);
    expect(late).toMatchObject({ acquired: true, claim: { generation: 1 } });
  });

  it("gives a run to exactly one of many concurrent claimers", async () => {
    // Act
    const results = await Promise.all(Array.from({ length: 10 }, () => claimRun(storage, keys, { ttlMs: TTL_MS })));

    // Assess
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
  });
});
