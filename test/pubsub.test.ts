import assert from "node:assert/strict";
import { Execution, ExecutionEvent, ExecutionStatus } from "../entities/index.js";
import { EXECUTION_UPDATED, type ExecutionUpdate, listenToExecution, listenToProgram, publishExecutionUpdate } from "../src/executions/ExecutionEvents.js";
import { createInProcessEventBus, listen, MAX_BEHIND } from "../src/pubsub.js";

/** An EventTarget that counts the listeners on it. */
class CountingTarget extends EventTarget {
  listeners = 0;
  override addEventListener(...args: Parameters<EventTarget["addEventListener"]>): void {
    this.listeners += 1;
    super.addEventListener(...args);
  }
  override removeEventListener(...args: Parameters<EventTarget["removeEventListener"]>): void {
    this.listeners -= 1;
    super.removeEventListener(...args);
  }
}

const take = async <T>(iterator: AsyncIterator<T>, n: number): Promise<T[]> => {
  const items: T[] = [];
  for (let i = 0; i < n; i++) items.push((await iterator.next()).value as T);
  return items;
};

describe("event bus (one listener per topic)", () => {
  it("hands every subscriber of a topic each event, in order, as the same object, through one listener", async () => {
    const target = new CountingTarget();
    const bus = createInProcessEventBus(target);
    const subscribers = Array.from({ length: 50 }, () => listen<{ n: number }>(bus, "T", "a"));
    assert.equal(target.listeners, 1);
    const events = [{ n: 1 }, { n: 2 }, { n: 3 }];
    for (const event of events) bus.publish("T", "a", event);
    bus.publish("T", "b", { n: 99 });
    bus.publish("T", { n: 100 });
    for (const subscriber of subscribers) {
      const got = await take(subscriber, 3);
      assert.deepEqual(got, events);
      got.forEach((event, i) => assert.equal(event, events[i], "the publisher's object itself"));
    }
    await Promise.all(subscribers.map((s) => s.return?.()));
    assert.equal(target.listeners, 0, "the last subscriber to leave removes the topic's listener");
  });

  it("starts listening on the first next(), and a waiting next() ends when the subscriber returns", async () => {
    const target = new CountingTarget();
    const bus = createInProcessEventBus(target);
    const iterator = (bus.subscribe("T") as AsyncIterable<number>)[Symbol.asyncIterator]();
    bus.publish("T", 1);
    assert.equal(target.listeners, 0);
    const pending = iterator.next();
    assert.equal(target.listeners, 1);
    bus.publish("T", 2);
    assert.deepEqual(await pending, { done: false, value: 2 });
    const waiting = iterator.next();
    await iterator.return?.();
    assert.deepEqual(await waiting, { done: true, value: undefined });
    assert.deepEqual(await iterator.next(), { done: true, value: undefined });
    assert.equal(target.listeners, 0);
  });

  it(`fails a subscriber that falls more than ${MAX_BEHIND} events behind, after what it has queued, and leaves the others alone`, async () => {
    const target = new CountingTarget();
    const bus = createInProcessEventBus(target);
    const slow = listen<number>(bus, "T");
    const fast = listen<number>(bus, "T");
    let fastSeen = 0;
    const reading = (async () => {
      for (;;) {
        const item = await fast.next();
        if (item.done || ++fastSeen === MAX_BEHIND + 10) return;
      }
    })();
    for (let i = 0; i < MAX_BEHIND + 10; i++) {
      bus.publish("T", i);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await reading;
    assert.equal(fastSeen, MAX_BEHIND + 10);
    const drained = await take(slow, MAX_BEHIND + 1);
    assert.deepEqual(drained.slice(0, 3), [0, 1, 2]);
    await assert.rejects(slow.next(), /fell more than 1024 events behind/);
    assert.equal(target.listeners, 1, "only the fast subscriber still listens");
    await fast.return?.();
    assert.equal(target.listeners, 0);
  });
});

describe("execution transitions on the bus", () => {
  it("go to the execution's and the program's topics; the topic of all executions carries cancellations only", async () => {
    const bus = createInProcessEventBus();
    const all = listen<ExecutionUpdate>(bus, EXECUTION_UPDATED);
    const own = listenToExecution(bus, "e1");
    const program = listenToProgram(bus, "p1");
    const execution = Object.assign(new Execution(), { id: "e1", tenantId: "t1", programId: "p1" });
    const transition = (seq: number, to: ExecutionStatus) => Object.assign(new ExecutionEvent(), { seq, to });
    publishExecutionUpdate(bus, execution, transition(1, ExecutionStatus.PENDING));
    publishExecutionUpdate(bus, execution, transition(2, ExecutionStatus.RUNNING));
    publishExecutionUpdate(bus, execution, transition(3, ExecutionStatus.CANCELLED));
    assert.deepEqual((await take(own, 3)).map((u) => u.event.seq), [1, 2, 3]);
    assert.deepEqual((await take(program, 3)).map((u) => u.event.seq), [1, 2, 3]);
    assert.deepEqual((await take(all, 1)).map((u) => u.event.to), [ExecutionStatus.CANCELLED]);
    await Promise.all([all, own, program].map((iterator) => iterator.return?.()));
  });
});
