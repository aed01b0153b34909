/**
 * The local stand-in for the SQS queue between the bucket and the segment function, with the semantics
 * the function is written for: at-least-once delivery, a failed message comes back after a delay with
 * its receive count one higher, and after `maxReceives` deliveries it goes to the dead-letter handler
 * instead. Each delivery is a batch of one.
 */
import { randomUUID } from "node:crypto";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import pLimit from "p-limit";
import type { Logger } from "../../plumbing/logger";
import { errorFields } from "../../plumbing/error-fields";
import { sqsRecord, type QueuedMessage } from "./sqs-messages";

export interface LocalQueueOptions {
  /** The consumer: the segment function's handler. */
  readonly deliver: (event: SQSEvent) => Promise<SQSBatchResponse>;
  /** Messages being delivered at once. */
  readonly concurrency: number;
  /** Deliveries of one message before it is dead-lettered (SQS's maxReceiveCount). */
  readonly maxReceives: number;
  /** How long a failed message stays invisible before it is delivered again. */
  readonly redeliveryDelayMs: (receiveCount: number) => number;
  readonly onDeadLetter: (message: QueuedMessage) => Promise<void>;
  readonly logger: Logger;
}

/**
 * @example
 * ```ts
 * const queue = new LocalQueue({ deliver: (event) => segment(event, context), concurrency: 1, maxReceives: 3, ... });
 * queue.send(s3NotificationBody({ bucket: "cellseg", key: "input/job-1/a.png" }));
 * await queue.onIdle();
 * ```
 */
export class LocalQueue {
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private active = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: LocalQueueOptions) {
    this.limit = pLimit(options.concurrency);
  }

  /** Messages delivered, waiting for a slot, or waiting to be delivered again. */
  get size(): number {
    return this.active + this.delayed.size;
  }

  /** Messages being delivered right now (the images being segmented). */
  get delivering(): number {
    return this.limit.activeCount;
  }

  /**
   * @throws Error once the queue is closed.
   */
  send(body: string): string {
    if (this.closed) throw new Error("the queue is closed");
    const message: QueuedMessage = { messageId: randomUUID(), body, sentAt: Date.now(), receiveCount: 0 };
    this.enqueue(message);
    return message.messageId;
  }

  /** Resolves when no message is being delivered or waiting. */
  onIdle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops accepting messages and drops every message not being delivered right now (waiting for a slot or
   * to be delivered again: the bucket still holds their objects, and the next start finds them), then
   * waits up to `waitMs` for deliveries in progress.
   *
   * @returns true when every delivery finished in time.
   */
  async close(waitMs: number): Promise<boolean> {
    this.closed = true;
    for (const timer of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.limit.clearQueue();
    this.active = this.limit.activeCount;
    this.settle();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), waitMs)));
    const finished = await Promise.race([this.onIdle().then(() => true as const), timedOut]);
    clearTimeout(timer);
    return finished;
  }

  private enqueue(message: QueuedMessage): void {
    this.active++;
    void this.limit(() => this.deliverOnce(message)).finally(() => {
      this.active--;
      this.settle();
    });
  }

  private async deliverOnce(message: QueuedMessage): Promise<void> {
    if (this.closed) return;
    message.receiveCount++;
    message.firstReceivedAt ??= Date.now();
    const { logger } = this.options;
    let failed: boolean;
    try {
      const response = await this.options.deliver({ Records: [sqsRecord(message)] });
      failed = response.batchItemFailures.some((failure) => failure.itemIdentifier === message.messageId);
    } catch (error) {
      logger.error("the consumer failed on a whole batch", { messageId: message.messageId, error: errorFields(error) });
      failed = true;
    }
    if (!failed) return;
    if (message.receiveCount >= this.options.maxReceives) {
      logger.error("message dead-lettered", { messageId: message.messageId, receiveCount: message.receiveCount });
      await this.options
        .onDeadLetter(message)
        .catch((error: unknown) => logger.error("cannot dead-letter a message", { error: errorFields(error) }));
      return;
    }
    if (this.closed) return;
    const delayMs = this.options.redeliveryDelayMs(message.receiveCount);
    logger.info("message will be delivered again", {
      messageId: message.messageId,
      receiveCount: message.receiveCount,
      delayMs,
    });
    this.delayed.set(
      message.messageId,
      setTimeout(() => {
        this.delayed.delete(message.messageId);
        this.enqueue(message);
      }, delayMs),
    );
  }

  private settle(): void {
    if (this.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
