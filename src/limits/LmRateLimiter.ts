import { AppError } from "../errors.js";
import type { RedisConnections } from "../redis.js";

/** A language model's own limits (null: none). */
export interface LmLimits {
  id: string;
  name?: string;
  requestsPerMinute: number | null;
  tokensPerMinute: number | null;
}

/**
 * Buckets with a per-call rate: `take` takes `cost` now or says how long until it could; `debit`
 * takes it whatever is left (a bucket may go below zero: tokens are known only once a call is
 * answered, and the calls after it wait until it is paid back). A bucket holds at most a minute's
 * worth (`perMinute`).
 */
interface Buckets {
  take(key: string, perMinute: number, cost: number): number | Promise<number>;
  debit(key: string, perMinute: number, cost: number): void;
}

class MemoryBuckets implements Buckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  take(key: string, perMinute: number, cost: number): number {
    const bucket = this.refill(key, perMinute);
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return 0;
    }
    return Math.max(1, Math.ceil(((cost - bucket.tokens) * 60_000) / perMinute - 1e-6));
  }

  debit(key: string, perMinute: number, cost: number): void {
    this.refill(key, perMinute).tokens -= cost;
  }

  private refill(key: string, perMinute: number): { tokens: number; at: number } {
    const now = Date.now();
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = { tokens: perMinute, at: now }));
    bucket.tokens = Math.min(perMinute, bucket.tokens + ((now - bucket.at) * perMinute) / 60_000);
    bucket.at = now;
    return bucket;
  }
}

/** The same buckets in Redis (REDIS_URL), shared by every instance, on Redis's clock. */
class RedisBuckets implements Buckets {
  private static readonly SCRIPT = `
    local per_min, cost, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
    local tokens = tonumber(state[1]) or per_min
    local at = tonumber(state[2]) or now
    tokens = math.min(per_min, tokens + math.max(0, now - at) * per_min / 60000)
    local wait = 0
    if mode == 'debit' or tokens >= cost then tokens = tokens - cost else wait = math.max(1, math.ceil((cost - tokens) * 60000 / per_min - 0.000001)) end
    redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
    redis.call('PEXPIRE', KEYS[1], 120000)
    return wait`;

  constructor(
    private readonly redis: RedisConnections,
    private readonly onError: (error: unknown) => void,
  ) {}

  async take(key: string, perMinute: number, cost: number): Promise<number> {
    return Number(await this.redis.commands.eval(RedisBuckets.SCRIPT, 1, `lmlimit:${key}`, String(perMinute), String(cost), "take"));
  }

  debit(key: string, perMinute: number, cost: number): void {
    this.redis.commands.eval(RedisBuckets.SCRIPT, 1, `lmlimit:${key}`, String(perMinute), String(cost), "debit").catch(this.onError);
  }
}

/**
 * Requests and tokens per minute per language model (README "Release management", "Per-LM limits"),
 * in this process or, with Redis, shared by every instance. An LM call waits for its request and for
 * the model's tokens to be paid back (`acquire`), as long as its run's deadline allows; past it, it
 * fails with LM_RATE_LIMITED (retriable). Its tokens are counted once it is answered (`spend`).
 */
export class LmRateLimiter {
  private readonly buckets: Buckets;

  constructor(redis?: RedisConnections, onError: (error: unknown) => void = () => undefined) {
    this.buckets = redis ? new RedisBuckets(redis, onError) : new MemoryBuckets();
  }

  /** Waits until `lm` may be called; throws LM_RATE_LIMITED when that would be after `deadlineAt` (epoch ms), CANCELLED-like `signal.reason` when aborted. */
  async acquire(lm: LmLimits, deadlineAt: number, signal?: AbortSignal): Promise<void> {
    if (lm.requestsPerMinute === null && lm.tokensPerMinute === null) return;
    for (;;) {
      // Tokens first, taking none (cost 0: only until earlier calls' tokens are paid back), so that a call never
      // holds a request it cannot use; its own tokens are counted when it is answered.
      const tokensWait = lm.tokensPerMinute !== null ? await this.buckets.take(`${lm.id}:tokens`, lm.tokensPerMinute, 0) : 0;
      if (tokensWait === 0) {
        const requestWait = lm.requestsPerMinute !== null ? await this.buckets.take(`${lm.id}:requests`, lm.requestsPerMinute, 1) : 0;
        if (requestWait === 0) return;
        await this.wait(lm, requestWait, deadlineAt, signal);
      } else {
        await this.wait(lm, tokensWait, deadlineAt, signal);
      }
    }
  }

  /** Counts an answered call's tokens against the model's tokens per minute. */
  spend(lm: LmLimits, tokens: number): void {
    if (lm.tokensPerMinute !== null && tokens > 0) this.buckets.debit(`${lm.id}:tokens`, lm.tokensPerMinute, tokens);
  }

  private async wait(lm: LmLimits, ms: number, deadlineAt: number, signal?: AbortSignal): Promise<void> {
    if (Date.now() + ms > deadlineAt) {
      const limits = [lm.requestsPerMinute !== null ? `${lm.requestsPerMinute} requests` : null, lm.tokensPerMinute !== null ? `${lm.tokensPerMinute} tokens` : null].filter(Boolean).join(" and ");
      throw new AppError("LM_RATE_LIMITED", `language model '${lm.name ?? lm.id}' allows ${limits} per minute; the next call could start in ${ms} ms, after the run's deadline`, {
        layer: "lm",
        retriable: true,
        details: { retry_after_ms: ms, limit: "language_model" },
      });
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
    });
  }
}
