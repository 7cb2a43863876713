import type { Principal } from "../auth/roles.js";
import type { RateLimitConfig } from "../config.js";
import { AppError } from "../errors.js";
import type { RedisConnections } from "../redis.js";

/** Buckets kept before idle (full) ones are dropped. */
const PRUNE_AT = 10_000;

/**
 * A token bucket per key, in this process (README: "Limits": per instance without Redis). Each key holds up to
 * `burst` tokens, refilled at `perMs`; a call takes one or is refused with how long until one is
 * back. A few lines instead of a library: the memory limiters at hand count fixed windows (twice
 * the rate across a window boundary), and nothing here needs a shared store.
 */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: RateLimitConfig,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes `cost` tokens (at most the burst) for `key`; returns 0 when allowed, else the milliseconds until they are there. */
  take(key: string, cost = 1): number {
    cost = Math.min(cost, this.rate.burst);
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.rate.burst, at: now };
    bucket.tokens = Math.min(this.rate.burst, bucket.tokens + (now - bucket.at) * this.rate.perMs);
    bucket.at = now;
    if (!this.buckets.has(key)) {
      if (this.buckets.size >= PRUNE_AT) this.prune(now);
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return 0;
    }
    // The rounding guard keeps float noise (0.999 tokens at 1/s) from adding a millisecond.
    return Math.max(1, Math.ceil((cost - bucket.tokens) / this.rate.perMs - 1e-6));
  }

  private prune(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.at) * this.rate.perMs >= this.rate.burst) this.buckets.delete(key);
    }
  }
}

/** Who a rate limit counts against: the API key, the token's subject in its tenant, or (dev mode) the tenant. */
export function rateLimitKey(principal: Principal): string {
  if (principal.via === "api_key" && principal.apiKeyId) return `api_key:${principal.apiKeyId}`;
  if (principal.via === "jwt") return `jwt:${principal.tenantId}:${principal.subject}`;
  return `tenant:${principal.tenantId}`;
}

/**
 * The same bucket in Redis, shared by every instance (REDIS_URL): one script takes the token
 * atomically, on Redis's clock, so instances with skewed clocks agree; an idle bucket expires.
 */
export class RedisTokenBucketLimiter {
  private static readonly SCRIPT = `
    local burst, per_ms, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
    local tokens = tonumber(state[1]) or burst
    local at = tonumber(state[2]) or now
    tokens = math.min(burst, tokens + math.max(0, now - at) * per_ms)
    local wait = 0
    if tokens >= cost then tokens = tokens - cost else wait = math.max(1, math.ceil((cost - tokens) / per_ms - 0.000001)) end
    redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
    redis.call('PEXPIRE', KEYS[1], math.ceil(burst / per_ms) + 1000)
    return wait`;

  constructor(
    private readonly rate: RateLimitConfig,
    private readonly redis: RedisConnections,
  ) {}

  async take(key: string, cost = 1): Promise<number> {
    const tokens = Math.min(cost, this.rate.burst);
    const wait = await this.redis.commands.eval(RedisTokenBucketLimiter.SCRIPT, 1, `ratelimit:${key}`, String(this.rate.burst), String(this.rate.perMs), String(tokens));
    return Number(wait);
  }
}

/** The executeProgram limit; `undefined` rate: off. Throws RATE_LIMITED (with retryAfterMs) when exceeded. */
export class ExecuteRateLimit {
  private readonly limiter?: { take(key: string, cost?: number): number | Promise<number> };

  /** With `redis` the buckets are shared by every instance; without, each instance counts alone. */
  constructor(
    private readonly rate: RateLimitConfig | undefined,
    redis?: RedisConnections,
  ) {
    if (rate) this.limiter = redis ? new RedisTokenBucketLimiter(rate, redis) : new TokenBucketLimiter(rate);
  }

  /** `executions`: how many the call queues (a batch's inputs); it costs that many tokens, at most the whole burst. */
  async check(principal: Principal | null, executions = 1): Promise<void> {
    if (!this.limiter || !this.rate || !principal) return;
    const retryAfterMs = await this.limiter.take(rateLimitKey(principal), executions);
    if (retryAfterMs > 0) {
      throw new AppError("RATE_LIMITED", `rate limited: executeProgram allows ${this.rate.text} (burst ${this.rate.burst}) per caller; retry in ${retryAfterMs} ms`, {
        retriable: true,
        extensions: { retryAfterMs },
      });
    }
  }
}
