import { SqsRecordSchema } from "@aws-lambda-powertools/parser/schemas/sqs";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { afterEach, describe, expect, it } from "vitest";
import { s3NotificationSchema } from "../../../../functions/segment/s3-notification";
import { LocalQueue, type LocalQueueOptions } from "../../../../functions/local/local-queue";
import { s3NotificationBody, type QueuedMessage } from "../../../../functions/local/sqs-messages";
import { memoryLogger } from "../api/api-fixture";

interface Delivery {
  readonly messageId: string;
  readonly body: string;
  readonly receiveCount: number;
}

const ok: SQSBatchResponse = { batchItemFailures: [] };
const failure = (event: SQSEvent): SQSBatchResponse => ({
  batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }],
});

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

/** A queue whose consumer answers with `consume`, recording every delivery and dead letter. */
function harness(
  consume: (event: SQSEvent, delivery: Delivery) => Promise<SQSBatchResponse> | SQSBatchResponse,
  options: Partial<LocalQueueOptions> = {},
) {
  const deliveries: Delivery[] = [];
  const deadLetters: QueuedMessage[] = [];
  const delays: number[] = [];
  const logger = memoryLogger();
  const queue = new LocalQueue({
    deliver: async (event) => {
      expect(event.Records).toHaveLength(1);
      const record = event.Records[0]!;
      const delivery = {
        messageId: record.messageId,
        body: record.body,
        receiveCount: Number(record.attributes.ApproximateReceiveCount),
      };
      deliveries.push(delivery);
      return consume(event, delivery);
    },
    concurrency: 1,
    maxReceives: 3,
    redeliveryDelayMs: (receiveCount) => {
      delays.push(receiveCount);
      return 2;
    },
    onDeadLetter: async (message) => void deadLetters.push({ ...message }),
    logger,
    ...options,
  });
  return { queue, deliveries, deadLetters, delays, logger };
}

describe("LocalQueue", () => {
  const queues: LocalQueue[] = [];
  const track = <T extends { queue: LocalQueue }>(h: T): T => {
    queues.push(h.queue);
    return h;
  };

  afterEach(async () => {
    await Promise.all(queues.splice(0).map((queue) => queue.close(1000)));
  });

  it("delivers a message once when the consumer succeeds, as a batch of one SQS record", async () => {
    // Prepare
    const { queue, deliveries, deadLetters } = track(harness(() => ok));

    // Act
    const id = queue.send("hello");
    await queue.onIdle();

    // Assess
    expect(deliveries).toEqual([{ messageId: id, body: "hello", receiveCount: 1 }]);
    expect(deadLetters).toEqual([]);
    expect(queue.size).toBe(0);
  });

  it("tells the messages being delivered from those waiting for a slot", async () => {
    // Prepare: one slot, held by the first message.
    const release = deferred<SQSBatchResponse>();
    const { queue } = track(harness(() => release.promise));

    // Act
    for (const body of ["a", "b", "c"]) queue.send(body);
    await tick();

    // Assess
    expect([queue.size, queue.delivering]).toEqual([3, 1]);
    release.resolve(ok);
    await queue.onIdle();
    expect([queue.size, queue.delivering]).toEqual([0, 0]);
  });

  it("delivers a message again, receive count one higher each time, while the consumer reports it failed", async () => {
    // Prepare: fails twice, then succeeds.
    const { queue, deliveries, deadLetters, delays } = track(
      harness((event, delivery) => (delivery.receiveCount < 3 ? failure(event) : ok)),
    );

    // Act
    const id = queue.send("retry me");
    await queue.onIdle();

    // Assess
    expect(deliveries.map((d) => [d.messageId, d.receiveCount])).toEqual([
      [id, 1],
      [id, 2],
      [id, 3],
    ]);
    expect(delays).toEqual([1, 2]);
    expect(deadLetters).toEqual([]);
  });

  it("dead-letters a message exactly once after maxReceives failed deliveries, and delivers it no more", async () => {
    // Prepare: "poison" always fails; "fine" succeeds.
    const { queue, deliveries, deadLetters, logger } = track(
      harness((event, delivery) => (delivery.body === "poison" ? failure(event) : ok), { maxReceives: 4 }),
    );

    // Act
    const id = queue.send("poison");
    await queue.onIdle();
    // A later message proves that nothing of the first is still pending.
    queue.send("fine");
    await queue.onIdle();

    // Assess
    expect(deliveries.filter((d) => d.messageId === id).map((d) => d.receiveCount)).toEqual([1, 2, 3, 4]);
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]).toMatchObject({ messageId: id, body: "poison", receiveCount: 4 });
    expect(deliveries.filter((d) => d.body === "fine")).toHaveLength(1);
    expect(logger.entries.filter((e) => e.message === "message dead-lettered")).toHaveLength(1);
  });

  it("dead-letters at once when maxReceives is 1", async () => {
    const { queue, deliveries, deadLetters } = track(harness((event) => failure(event), { maxReceives: 1 }));

    queue.send("x");
    await queue.onIdle();

    expect(deliveries).toHaveLength(1);
    expect(deadLetters).toHaveLength(1);
  });

  it("counts a consumer that throws as a failed delivery", async () => {
    // Prepare
    const { queue, deliveries, logger } = track(
      harness((_, delivery) => {
        if (delivery.receiveCount === 1) throw new Error("handler crashed");
        return ok;
      }),
    );

    // Act
    queue.send("x");
    await queue.onIdle();

    // Assess
    expect(deliveries.map((d) => d.receiveCount)).toEqual([1, 2]);
    expect(logger.entries).toContainEqual(
      expect.objectContaining({
        level: "error",
        message: "the consumer failed on a whole batch",
        fields: expect.objectContaining({ error: expect.objectContaining({ message: "handler crashed" }) }),
      }),
    );
  });

  it("ignores batch item failures of other messages", async () => {
    const { queue, deliveries } = track(harness(() => ({ batchItemFailures: [{ itemIdentifier: "someone-else" }] })));

    queue.send("x");
    await queue.onIdle();

    expect(deliveries).toHaveLength(1);
  });

  it("survives a dead-letter handler that fails, and still settles", async () => {
    // Prepare
    const { queue, logger } = track(
      harness((event) => failure(event), {
        maxReceives: 2,
        onDeadLetter: async () => {
          throw new Error("disk full");
        },
      }),
    );

    // Act
    queue.send("x");
    await queue.onIdle();

    // Assess
    expect(queue.size).toBe(0);
    expect(logger.entries.some((e) => e.message === "cannot dead-letter a message")).toBe(true);
  });

  it("never runs more deliveries at once than its concurrency, failures and redeliveries included", async () => {
    // Prepare
    let running = 0;
    let mostAtOnce = 0;
    const { queue, deliveries } = track(
      harness(
        async (event, delivery) => {
          running++;
          mostAtOnce = Math.max(mostAtOnce, running);
          await new Promise((resolve) => setTimeout(resolve, 3));
          running--;
          return delivery.receiveCount === 1 && delivery.body.endsWith("odd") ? failure(event) : ok;
        },
        { concurrency: 3 },
      ),
    );

    // Act
    for (let i = 0; i < 12; i++) queue.send(`message ${i} ${i % 2 === 1 ? "odd" : "even"}`);
    await queue.onIdle();

    // Assess
    expect(mostAtOnce).toBe(3);
    expect(deliveries).toHaveLength(12 + 6);
    expect(running).toBe(0);
  });

  it("resolves onIdle only once every message has settled, redeliveries included", async () => {
    // Prepare
    const { queue, deliveries, deadLetters } = track(
      harness(
        (event, delivery) => (delivery.body === "always fails" || delivery.receiveCount === 1 ? failure(event) : ok),
        { concurrency: 2 },
      ),
    );

    // Act
    queue.send("always fails");
    queue.send("fails once");
    queue.send("fails once too");
    await queue.onIdle();

    // Assess: 3 + 2 + 2 deliveries, all done by the time onIdle resolves.
    expect(deliveries).toHaveLength(7);
    expect(deadLetters).toHaveLength(1);
    expect(queue.size).toBe(0);
  });

  it("resolves onIdle at once when nothing was sent", async () => {
    const { queue } = track(harness(() => ok));

    await expect(queue.onIdle()).resolves.toBeUndefined();
  });

  it("builds SQS records Powertools accepts, whose body is the S3 notification sent, key intact", async () => {
    // Prepare
    const keys: string[] = [];
    const { queue } = track(
      harness((event) => {
        const record = SqsRecordSchema.parse(event.Records[0]);
        const body = s3NotificationSchema.parse(JSON.parse(record.body));
        if ("Records" in body) keys.push(...body.Records.map((r) => r.s3.object.key));
        return ok;
      }),
    );

    // Act
    queue.send(s3NotificationBody({ bucket: "cellseg", key: "input/job 1/a+b c.png", etag: "e", size: 1 }));
    queue.send(s3NotificationBody({ bucket: "cellseg", key: "input/job-2/plate/%41.tif" }));
    await queue.onIdle();

    // Assess
    expect(keys).toEqual(["input/job 1/a+b c.png", "input/job-2/plate/%41.tif"]);
  });

  describe("close", () => {
    it("drops messages waiting to be delivered again", async () => {
      // Prepare: the first delivery fails; the redelivery would come a minute later.
      const scheduled: number[] = [];
      const { queue, deliveries, deadLetters } = harness((event) => failure(event), {
        redeliveryDelayMs: (receiveCount) => {
          scheduled.push(receiveCount);
          return 60_000;
        },
      });
      queue.send("x");
      await expect.poll(() => scheduled).toEqual([1]);

      // Act
      const finished = await queue.close(1000);

      // Assess
      expect(finished).toBe(true);
      expect(queue.size).toBe(0);
      expect(deliveries).toHaveLength(1);
      expect(deadLetters).toEqual([]);
      await expect(queue.onIdle()).resolves.toBeUndefined();
    });

    it("waits for deliveries in progress, then resolves true", async () => {
      // Prepare
      const release = deferred();
      const events: string[] = [];
      const { queue } = harness(async () => {
        await release.promise;
        events.push("delivery finished");
        return ok;
      });
      queue.send("x");
      await expect.poll(() => queue.size).toBe(1);

      // Act
      const closing = queue.close(10_000).then((finished) => {
        events.push("closed");
        return finished;
      });
      await tick();
      const beforeRelease = [...events];
      release.resolve();

      // Assess
      expect(await closing).toBe(true);
      expect(beforeRelease).toEqual([]);
      expect(events).toEqual(["delivery finished", "closed"]);
    });

    it("resolves false when a delivery outlasts waitMs", async () => {
      // Prepare
      const release = deferred();
      const { queue, deliveries } = harness(async () => {
        await release.promise;
        return ok;
      });
      queue.send("x");
      await expect.poll(() => deliveries.length).toBe(1);

      // Act
      const finished = await queue.close(5);
      release.resolve();

      // Assess
      expect(finished).toBe(false);
    });

    it("drops messages still waiting for a delivery slot", async () => {
      // Prepare: concurrency 1; the first delivery holds the slot.
      const release = deferred();
      const { queue, deliveries } = harness(async () => {
        await release.promise;
        return ok;
      });
      queue.send("first");
      queue.send("second");
      queue.send("third");
      await expect.poll(() => deliveries.length).toBe(1);

      // Act
      const closing = queue.close(10_000);
      release.resolve();

      // Assess
      expect(await closing).toBe(true);
      expect(deliveries.map((d) => d.body)).toEqual(["first"]);
      expect(queue.size).toBe(0);
    });

    it("does not deliver again a message whose delivery fails while closing", async () => {
      // Prepare
      const release = deferred();
      const { queue, deliveries, deadLetters, delays } = harness(async (event) => {
        await release.promise;
        return failure(event);
      });
      queue.send("x");
      await expect.poll(() => deliveries.length).toBe(1);

      // Act
      const closing = queue.close(10_000);
      release.resolve();

      // Assess
      expect(await closing).toBe(true);
      expect(delays).toEqual([]);
      expect(deadLetters).toEqual([]);
      expect(deliveries).toHaveLength(1);
    });

    it("drops a message sent but not yet started", async () => {
      // Prepare
      const { queue, deliveries } = harness(() => ok);
      queue.send("just sent");

      // Act
      const finished = await queue.close(1000);

      // Assess
      expect(finished).toBe(true);
      expect(deliveries).toEqual([]);
    });

    it("refuses send afterwards", async () => {
      const { queue } = harness(() => ok);

      await queue.close(100);

      expect(() => queue.send("late")).toThrow("the queue is closed");
    });
  });
});
