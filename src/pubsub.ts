import { createRedisEventTarget } from "@graphql-yoga/redis-event-target";
import { createPubSub } from "@graphql-yoga/subscription";
import type { PubSub } from "type-graphql";
import { jsonWithDates, type RedisConnections } from "./redis.js";

/**
 * Everything instances tell each other goes through this interface (type-graphql's PubSub):
 * subscriptions, cancels (runners watch for CANCELLED transitions), API-key revocations. In-process
 * by default; on Redis (REDIS_URL) an event published on one instance reaches every instance.
 */
export type EventBus = PubSub;

export function createInProcessEventBus(): EventBus {
  return createPubSub();
}

/** The bus on Redis pub/sub: one channel per topic (and per id for `publish(topic, id, …)`). */
export function createRedisEventBus(redis: RedisConnections): EventBus {
  return createPubSub({ eventTarget: createRedisEventTarget({ publishClient: redis.commands, subscribeClient: redis.subscriber, serializer: jsonWithDates }) });
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
