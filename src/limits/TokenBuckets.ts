import type { RedisConnections } from "../redis.js";

/** A bucket's size and how fast it fills. */
export interface BucketRate {
  /** Tokens a full bucket holds: how many calls may come at once after a quiet spell. */
  burst: number;
  /** Tokens added per millisecond. */
  perMs: number;
}

/**
 * Token buckets per key, the one implementation behind every rate limit here (executeProgram per
 * caller, requests and tokens per language model). `take` takes `cost` now and answers 0, or takes
 * nothing and answers the milliseconds until it could. `debit` takes `cost` whatever is left: a bucket
 * may go below zero (an LM call's tokens are known only once it is answered), and takes wait until it
 * is paid back.
 */
export interface TokenBuckets {
  take(key: string, rate: BucketRate, cost: number): number | Promise<number>;
  debit(key: string, rate: BucketRate, cost: number): void;
}

/** In this process, or with Redis shared by every instance; `prefix` names the limit's keys in Redis. */
export function tokenBuckets(redis: RedisConnections | undefined, prefix: string, onError: (error: unknown) => void = () => undefined): TokenBuckets {
  return redis ? new RedisTokenBuckets(redis, prefix, onError) : new MemoryTokenBuckets();
}

/** Buckets kept before full ones (the same as no bucket) are dropped. */
const PRUNE_AT = 10_000;

/**
 * In this process (README "Limits": per instance without Redis). A few lines instead of a library:
 * the memory limiters at hand count fixed windows (twice the rate across a window boundary).
 */
export class MemoryTokenBuckets implements TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number; fullAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  take(key: string, rate: BucketRate, cost: number): number {
    const bucket = this.refill(key, rate);
    if (bucket.tokens >= cost) {
      this.spend(bucket, rate, cost);
      return 0;
    }
    return waitFor(cost - bucket.tokens, rate);
  }

  debit(key: string, rate: BucketRate, cost: number): void {
    this.spend(this.refill(key, rate), rate, cost);
  }

  private spend(bucket: { tokens: number; at: number; fullAt: number }, rate: BucketRate, cost: number): void {
    bucket.tokens -= cost;
    bucket.fullAt = bucket.at + (rate.burst - bucket.tokens) / rate.perMs;
  }

  private refill(key: string, rate: BucketRate): { tokens: number; at: number; fullAt: number } {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= PRUNE_AT) this.prune(now);
      this.buckets.set(key, (bucket = { tokens: rate.burst, at: now, fullAt: now }));
    }
    bucket.tokens = Math.min(rate.burst, bucket.tokens + (now - bucket.at) * rate.perMs);
    bucket.at = now;
    return bucket;
  }

  private prune(now: number): void {
    for (const [key, bucket] of this.buckets) if (bucket.fullAt <= now) this.buckets.delete(key);
  }
}

/** How long until `missing` tokens are back. The guard keeps float noise (0.999 tokens at 1/s) from adding a millisecond. */
function waitFor(missing: number, rate: BucketRate): number {
  return Math.max(1, Math.ceil(missing / rate.perMs - 1e-6));
}

/**
 * The same buckets in Redis, shared by every instance: one script takes atomically, on Redis's clock,
 * so instances with skewed clocks agree. A bucket expires once it would be full again.
 */
export class RedisTokenBuckets implements TokenBuckets {
  private static readonly SCRIPT = `
    local burst, per_ms, cost, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
    local tokens = tonumber(state[1]) or burst
    local at = tonumber(state[2]) or now
    tokens = math.min(burst, tokens + math.max(0, now - at) * per_ms)
    local wait = 0
    if mode == 'debit' or tokens >= cost then tokens = tokens - cost else wait = math.max(1, math.ceil((cost - tokens) / per_ms - 0.000001)) end
    redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
    redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / per_ms) + 1000)
    return wait`;

  constructor(
    private readonly redis: RedisConnections,
    private readonly prefix: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  async take(key: string, rate: BucketRate, cost: number): Promise<number> {
    return Number(await this.run(key, rate, cost, "take"));
  }

  debit(key: string, rate: BucketRate, cost: number): void {
    this.run(key, rate, cost, "debit").catch(this.onError);
  }

  private run(key: string, rate: BucketRate, cost: number, mode: "take" | "debit"): Promise<unknown> {
    return this.redis.commands.eval(RedisTokenBuckets.SCRIPT, 1, `${this.prefix}${key}`, String(rate.burst), String(rate.perMs), String(cost), mode);
  }
}
