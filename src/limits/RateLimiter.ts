import type { Principal } from "../auth/roles.js";
import type { RateLimitConfig } from "../config.js";
import { AppError } from "../errors.js";

/** Buckets kept before idle (full) ones are dropped. */
const PRUNE_AT = 10_000;

/**
 * A token bucket per key, in this process (README: "Limits": per instance). Each key holds up to
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

  /** Takes a token for `key`; returns 0 when allowed, else the milliseconds until one is available. */
  take(key: string): number {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.rate.burst, at: now };
    bucket.tokens = Math.min(this.rate.burst, bucket.tokens + (now - bucket.at) * this.rate.perMs);
    bucket.at = now;
    if (!this.buckets.has(key)) {
      if (this.buckets.size >= PRUNE_AT) this.prune(now);
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    // The rounding guard keeps float noise (0.999 tokens at 1/s) from adding a millisecond.
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate.perMs - 1e-6));
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

/** The executeProgram limit; `undefined` rate: off. Throws RATE_LIMITED (with retryAfterMs) when exceeded. */
export class ExecuteRateLimit {
  private readonly limiter?: TokenBucketLimiter;

  constructor(private readonly rate: RateLimitConfig | undefined) {
    if (rate) this.limiter = new TokenBucketLimiter(rate);
  }

  check(principal: Principal | null): void {
    if (!this.limiter || !this.rate || !principal) return;
    const retryAfterMs = this.limiter.take(rateLimitKey(principal));
    if (retryAfterMs > 0) {
      throw new AppError("RATE_LIMITED", `rate limited: executeProgram allows ${this.rate.text} (burst ${this.rate.burst}) per caller; retry in ${retryAfterMs} ms`, {
        retriable: true,
        extensions: { retryAfterMs },
      });
    }
  }
}
