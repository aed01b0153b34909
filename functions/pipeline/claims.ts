/**
 * Claims: who is working on a run, so that two deliveries of the same object version (SQS delivers at
 * least once; S3 may notify twice) do not both do the work. A claim is an object created with
 * {@link Storage.createIfAbsent}, which only one caller can win. Claims are numbered: a run whose latest
 * claim was released (its run failed) or expired (its worker died) is claimed again under the next
 * number, which again only one caller can create.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { OutputKeys } from "../../core/schemas/object-keys";
import type { Storage } from "./storage/storage";

/** The claim document: internal to the pipeline, read only by other claimers. */
const claimSchema = z.object({
  owner: z.string(),
  /** The worker process that made the claim, when it has an identity (the local stack). */
  worker: z.string().optional(),
  claimedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  released: z.boolean().optional(),
});
type ClaimRecord = z.infer<typeof claimSchema>;

/** A claim this worker holds. */
export interface Claim {
  readonly key: string;
  readonly generation: number;
  readonly owner: string;
  /** Gives the run up (after a failure), so the next delivery can claim it at once instead of waiting for expiry. */
  release(): Promise<void>;
}

export type ClaimResult =
  | { readonly acquired: true; readonly claim: Claim }
  | { readonly acquired: false; readonly heldBy: string; readonly expiresAt: string | undefined };

export interface ClaimOptions {
  /** How long a claim holds without being released: longer than any run (Lambda stops at 15 minutes). */
  readonly ttlMs: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /**
   * The only worker of this bucket (the local stack, one per data directory): its claims carry this id, and
   * a claim of any other worker is abandoned, a process that crashed or was killed, and taken over at once
   * rather than waited out. Undefined where workers come and go (Lambda): claims then hold until they expire.
   */
  readonly soleWorker?: string;
}

/**
 * Tries to claim a run.
 *
 * @example
 * ```ts
 * const result = await claimRun(output, keys, { ttlMs: 15 * 60_000 });
 * if (!result.acquired) throw new JobInProgressError(`run claimed by ${result.heldBy}`);
 * try { await work(); } catch (error) { await result.claim.release(); throw error; }
 * ```
 */
export async function claimRun(
  storage: Storage,
  keys: Pick<OutputKeys, "claimsPrefix" | "claim">,
  options: ClaimOptions,
): Promise<ClaimResult> {
  const now = (options.now ?? (() => new Date()))();
  const claims = await storage.list(keys.claimsPrefix);
  let generation = 0;
  const latest = claims.at(-1);
  if (latest !== undefined) {
    const held = await readClaim(storage, latest.key);
    generation = Number(latest.key.slice(keys.claimsPrefix.length).replace(/\.json$/, "")) + 1;
    if (!Number.isInteger(generation)) throw new Error(`unexpected claim key ${latest.key}`);
    const abandoned = options.soleWorker !== undefined && held?.worker !== options.soleWorker;
    if (held !== undefined && !held.released && !abandoned && Date.parse(held.expiresAt) > now.getTime()) {
      return { acquired: false, heldBy: held.owner, expiresAt: held.expiresAt };
    }
  }
  const owner = randomUUID();
  const record: ClaimRecord = {
    owner,
    ...(options.soleWorker !== undefined ? { worker: options.soleWorker } : {}),
    claimedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + options.ttlMs).toISOString(),
  };
  const key = keys.claim(generation);
  if (!(await storage.createIfAbsent(key, JSON.stringify(record), { contentType: "application/json" }))) {
    // Someone created this number between our list and our write: they hold the run now.
    const winner = await readClaim(storage, key);
    return { acquired: false, heldBy: winner?.owner ?? "another worker", expiresAt: winner?.expiresAt };
  }
  return {
    acquired: true,
    claim: {
      key,
      generation,
      owner,
      // Only the creator of a claim number ever writes it again, so a plain put is safe here.
      release: () =>
        storage.put(key, JSON.stringify({ ...record, released: true }), { contentType: "application/json" }),
    },
  };
}

/** A claim's record; a missing or unreadable one counts as released (nobody can prove they hold it). */
async function readClaim(storage: Storage, key: string): Promise<ClaimRecord | undefined> {
  const object = await storage.get(key);
  if (object === undefined) return undefined;
  try {
    return claimSchema.parse(JSON.parse(new TextDecoder().decode(object.body)));
  } catch {
    return undefined;
  }
}
