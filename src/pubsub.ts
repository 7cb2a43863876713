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
export function filtered<T>(source: AsyncIterator<T>, keep: (item: T) => boolean, first?: T): AsyncIterableIterator<T> {
  let head = first === undefined ? [] : [first];
  return {
    async next() {
      const next = head.shift();
      if (next !== undefined) return { done: false, value: next };
      for (;;) {
        const result = await source.next();
        if (result.done || keep(result.value)) return result;
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
