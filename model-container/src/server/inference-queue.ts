/**
 * Admission control for inferences: at most `maxConcurrency` run, at most `maxQueue` wait, and every
 * request has a deadline. A burst beyond that is refused at once instead of piling up decoded images and
 * model inputs until the process runs out of memory.
 */
import pLimit, { type LimitFunction } from "p-limit";
import { QueueFullError, RequestTimeoutError } from "./errors";

export interface InferenceQueueOptions {
  readonly maxConcurrency: number;
  /** Requests allowed to wait for a slot; 0 refuses every request that cannot start at once. */
  readonly maxQueue: number;
  /** Deadline per request, counted from the moment it is queued. */
  readonly timeoutMs: number;
}

/** A job's result and how long it waited for its slot. */
export interface QueuedResult<T> {
  readonly value: T;
  readonly queueMs: number;
}

/**
 * Bounded concurrency, a bounded waiting line and a deadline per request.
 *
 * A job that misses its deadline is answered with {@link RequestTimeoutError}. If it has not started yet
 * it is skipped when its turn comes; if it is running it cannot be interrupted (onnxruntime offers no
 * cancellation), so it keeps its slot until it ends, its `signal` is aborted for it to check between
 * stages, and its result is dropped. Keeping the slot is what bounds the work really in flight.
 *
 * @example
 * ```ts
 * const queue = new InferenceQueue({ maxConcurrency: 1, maxQueue: 16, timeoutMs: 60_000 });
 * const { value, queueMs } = await queue.run(async (signal) => {
 *   const image = await decodeImage(bytes);
 *   signal.throwIfAborted();
 *   return segmenter.segment(image);
 * });
 * ```
 */
export class InferenceQueue {
  private readonly limit: LimitFunction;
  /** Jobs accepted and not yet finished or skipped, timed-out ones included. */
  private unsettled = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly options: InferenceQueueOptions) {
    for (const [name, min] of [
      ["maxConcurrency", 1],
      ["maxQueue", 0],
      ["timeoutMs", 1],
    ] as const) {
      if (!Number.isInteger(options[name]) || options[name] < min) {
        throw new RangeError(`${name} must be an integer of at least ${min}, got ${options[name]}`);
      }
    }
    this.limit = pLimit(options.maxConcurrency);
  }

  /** Jobs running now (including timed-out ones still finishing). */
  get active(): number {
    return this.limit.activeCount;
  }

  /** Jobs waiting for a slot (including timed-out ones that will be skipped). */
  get pending(): number {
    return this.limit.pendingCount;
  }

  /** Whether {@link run} would refuse a job now. */
  get full(): boolean {
    return this.active >= this.options.maxConcurrency && this.pending >= this.options.maxQueue;
  }

  /**
   * Refuses early, before the caller reads a large body only to be refused later.
   * @throws QueueFullError when {@link full}.
   */
  assertNotFull(): void {
    if (this.full) throw new QueueFullError(this.active, this.pending);
  }

  /**
   * Runs `job` when a slot is free, within the deadline.
   *
   * @throws QueueFullError at once when the queue is full.
   * @throws RequestTimeoutError when the deadline passes first.
   * @throws whatever `job` throws.
   */
  async run<T>(job: (signal: AbortSignal) => Promise<T>): Promise<QueuedResult<T>> {
    this.assertNotFull();
    const enqueued = performance.now();
    let started: number | undefined;
    const controller = new AbortController();
    this.unsettled++;
    const work = this.limit(async () => {
      // Its request has already been answered: running it would only delay the requests behind it.
      if (controller.signal.aborted) return undefined;
      started = performance.now();
      return job(controller.signal);
    });
    void work.then(this.settle, this.settle);

    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new RequestTimeoutError(this.options.timeoutMs, started !== undefined);
        controller.abort(error);
        reject(error);
      }, this.options.timeoutMs);
    });
    try {
      const value = (await Promise.race([work, deadline])) as T;
      return { value, queueMs: (started ?? enqueued) - enqueued };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Resolves once no job is waiting or running (timed-out jobs included, so their sessions may be
   * released safely afterwards).
   */
  onIdle(): Promise<void> {
    if (this.unsettled === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private readonly settle = (): void => {
    this.unsettled--;
    if (this.unsettled > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  };
}
