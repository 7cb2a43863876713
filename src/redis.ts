import { Redis } from "ioredis";

/**
 * The Redis connections of one instance (REDIS_URL): commands and publishing on one, subscriptions on
 * another (a subscribed connection can do nothing else). ioredis reconnects by itself; a command sent
 * while Redis is down waits in its offline queue until it is back.
 */
export interface RedisConnections {
  commands: Redis;
  subscriber: Redis;
  close(): Promise<void>;
}

export async function connectRedis(url: string): Promise<RedisConnections> {
  const options = { lazyConnect: true, maxRetriesPerRequest: null, enableReadyCheck: true };
  const commands = new Redis(url, options);
  const subscriber = new Redis(url, options);
  // Connection errors are retried by ioredis; an unhandled "error" event would crash the process.
  for (const client of [commands, subscriber]) client.on("error", () => undefined);
  await Promise.all([commands.connect(), subscriber.connect()]);
  return {
    commands,
    subscriber,
    async close() {
      await Promise.allSettled([commands.quit(), subscriber.quit()]);
    },
  };
}

/**
 * JSON that keeps Dates: what travels between instances is entities with timestamps (an execution's
 * queuedAt, a job's nextRunAt), which must arrive as Dates, as they are in-process.
 */
export const jsonWithDates = {
  stringify(value: unknown): string {
    return JSON.stringify(value, function (this: Record<string, unknown>, key: string, encoded: unknown) {
      const original = this[key];
      return original instanceof Date ? { $date: original.toISOString() } : encoded;
    });
  },
  parse(text: string): unknown {
    return JSON.parse(text, (_key, value: unknown) => {
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        const keys = Object.keys(value);
        if (keys.length === 1 && keys[0] === "$date" && typeof (value as { $date: unknown }).$date === "string") return new Date((value as { $date: string }).$date);
      }
      return value;
    });
  },
};

/** /readyz's Redis part: a PING answered within a second (commands otherwise wait for a reconnect). */
export function redisReadiness(redis: RedisConnections): { name: string; probe(): Promise<Record<string, unknown>> } {
  return {
    name: "redis",
    async probe() {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("no answer to PING within 1 s")), 1_000)));
      try {
        await Promise.race([redis.commands.ping(), timeout]);
      } finally {
        clearTimeout(timer);
      }
      return { pingMs: Math.round((performance.now() - started) * 10) / 10 };
    },
  };
}
