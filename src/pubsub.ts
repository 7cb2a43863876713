import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import type { PubSub } from "type-graphql";
import { jsonWithDates, type RedisConnections } from "./redis.js";

/**
 * Everything instances tell each other goes through this interface (type-graphql's PubSub):
 * subscriptions, cancels (runners watch for CANCELLED transitions), API-key revocations. In-process
 * by default; on Redis (REDIS_URL) an event published on one instance reaches every instance.
 */
export type EventBus = PubSub;

/** `target`: where events go between publishers and topics (tests pass one that counts listeners). */
export function createInProcessEventBus(target: EventTarget = new EventTarget()): EventBus {
  return fanOutBus(target);
}

/** The bus on Redis pub/sub: one channel per topic (and per id for `publish(topic, id, …)`). */
export function createRedisEventBus(redis: RedisConnections): EventBus {
  return fanOutBus(createRedisEventTarget({ publishClient: redis.commands, subscribeClient: redis.subscriber, serializer: sameAsLast(jsonWithDates) }));
}

/**
 * An execution's transition is published on two or three topics in a row (ExecutionEvents.ts), and
 * arrives on each of them that this instance listens to: it is written and read once, not once per
 * topic (with its trace, ~10 µs each way). Safe because a payload is never changed once published:
 * in process, every subscriber gets the very object, later.
 */
function sameAsLast(serializer: typeof jsonWithDates): typeof jsonWithDates {
  // Each kept for the current turn only: what is published, or arrives, in one go.
  let written: { value: unknown; text: string } | undefined;
  let read: { text: string; value: unknown } | undefined;
  const forget = () => {
    written = undefined;
    read = undefined;
  };
  return {
    stringify(value) {
      if (written !== undefined && written.value === value) return written.text;
      if (!written && !read) queueMicrotask(forget);
      const text = serializer.stringify(value);
      written = { value, text };
      return text;
    },
    parse(text) {
      if (read !== undefined && read.text === text) return read.value;
      if (!written && !read) queueMicrotask(forget);
      const value = serializer.parse(text);
      read = { text, value };
      return value;
    },
  };
}

/** Events a subscriber may fall behind by before its subscription fails (as a Repeater's push queue). */
export const MAX_BEHIND = 1024;

/**
 * A bus on an event target (in memory, or Redis) with one listener on the target per topic, however
 * many subscribe to it: an event is handed to each subscriber's queue by one loop, with the same
 * payload object for all (sharedSubscribe relies on it). graphql-yoga's createPubSub, with the same
 * topic names, gave each subscriber a listener of its own and a Repeater: with 10,000 subscribers to
 * one program, Node's EventTarget then walked 10,000 listeners to add one, and a delivery cost a
 * Repeater's promises. As there, a subscription starts listening on its first `next()`.
 */
function fanOutBus(target: EventTarget): EventBus {
  const topics = new Map<string, Topic>();
  return {
    publish(routingKey: string, ...args: unknown[]) {
      const payload = args[1] ?? args[0] ?? null;
      const topic = args[1] === undefined ? routingKey : `${routingKey}:${String(args[0])}`;
      target.dispatchEvent(new CustomEvent(topic, { detail: payload }));
    },
    subscribe(routingKey: string, id?: unknown) {
      const name = id === undefined ? routingKey : `${routingKey}:${String(id)}`;
      return new Subscription(() => {
        let topic = topics.get(name);
        if (!topic) topics.set(name, (topic = new Topic(target, name, () => topics.delete(name))));
        return topic;
      });
    },
  } as EventBus;
}

/** The subscribers of one topic, and the one listener on the target that feeds them. */
class Topic {
  private readonly subscribers = new Set<Subscription<unknown>>();
  private readonly listener = (event: Event) => {
    const payload = (event as CustomEvent).detail;
    for (const subscriber of this.subscribers) subscriber.push(payload);
  };

  constructor(
    private readonly target: EventTarget,
    private readonly name: string,
    private readonly onEmpty: () => void,
  ) {}

  add(subscriber: Subscription<unknown>): void {
    if (this.subscribers.size === 0) this.target.addEventListener(this.name, this.listener);
    this.subscribers.add(subscriber);
  }

  delete(subscriber: Subscription<unknown>): void {
    if (!this.subscribers.delete(subscriber) || this.subscribers.size > 0) return;
    this.target.removeEventListener(this.name, this.listener);
    this.onEmpty();
  }
}

/** One subscriber's events, queued until read. */
class Subscription<T> implements AsyncIterableIterator<T> {
  private queue: T[] = [];
  private waiting?: { resolve(result: IteratorResult<T>): void; reject(error: Error): void };
  private topic?: Topic;
  private state: "new" | "open" | "failed" | "done" = "new";

  constructor(private readonly join: () => Topic) {}

  push(value: T): void {
    if (this.state !== "open") return;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      waiting.resolve({ done: false, value });
    } else if (this.queue.length >= MAX_BEHIND) {
      this.leave("failed");
    } else this.queue.push(value);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.state === "new") {
      this.state = "open";
      this.topic = this.join();
      this.topic.add(this as Subscription<unknown>);
    }
    if (this.queue.length > 0) return Promise.resolve({ done: false, value: this.queue.shift() as T });
    if (this.state === "failed") {
      this.state = "done";
      return Promise.reject(new Error(`the subscriber fell more than ${MAX_BEHIND} events behind`));
    }
    if (this.state === "done") return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.queue = [];
    this.leave("done");
    return Promise.resolve({ done: true, value: undefined });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.return();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private leave(state: "failed" | "done"): void {
    if (this.state === "done" || this.state === "failed") return;
    const joined = this.state === "open";
    this.state = state;
    if (joined) this.topic?.delete(this as Subscription<unknown>);
    const waiting = this.waiting;
    this.waiting = undefined;
    // A failed subscriber is behind by definition, so nobody waits; a returned one's pending next ends.
    waiting?.resolve({ done: true, value: undefined });
  }
}

/**
 * Subscribes now. The bus's iterators attach their listener on the first `next()`, so an event
 * published between `subscribe()` and that call would be lost; this one asks at once and keeps the
 * answer for the caller, so whatever is read after `listen` returns is covered.
 */
export function listen<T>(bus: EventBus, topic: string, id?: string): AsyncIterableIterator<T> {
  const iterator = ((id === undefined ? bus.subscribe(topic) : bus.subscribe(topic, id)) as AsyncIterable<T>)[Symbol.asyncIterator]();
  let first: Promise<IteratorResult<T>> | undefined = iterator.next();
  return {
    next() {
      if (!first) return iterator.next();
      const pending = first;
      first = undefined;
      return pending;
    },
    return(value?: unknown) {
      return iterator.return?.(value) ?? Promise.resolve({ done: true, value: undefined });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * The items of `source` that `keep` accepts, after `first` (if given). Written as a plain iterator
 * rather than an async generator: a generator waiting for the next event cannot be returned, so an
 * unsubscribed client would hold its listener until the next event; this returns at once.
 */
export function filtered<T>(source: AsyncIterator<T>, keep: (item: T) => boolean, first?: T, last?: (item: T) => boolean): AsyncIterableIterator<T> {
  let head = first === undefined ? [] : [first];
  let ended = false;
  const end = async (): Promise<IteratorResult<T>> => {
    await source.return?.();
    return { done: true, value: undefined };
  };
  // `last`: the item after which there is nothing more to say (a terminal state): the iterator then
  // completes, and the subscription with it.
  const yielded = (value: T): IteratorResult<T> => {
    if (last?.(value)) ended = true;
    return { done: false, value };
  };
  return {
    async next() {
      if (ended) return end();
      const next = head.shift();
      if (next !== undefined) return yielded(next);
      for (;;) {
        const result = await source.next();
        if (result.done) return result;
        if (keep(result.value)) return yielded(result.value);
      }
    },
    return(value?: unknown) {
      head = [];
      return source.return?.(value) ?? Promise.resolve({ done: true, value: undefined });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
