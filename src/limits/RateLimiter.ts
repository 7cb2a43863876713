import type { Principal } from "../auth/roles.js";
import type { RateLimitConfig } from "../config.js";
import { AppError } from "../errors.js";
import type { RedisConnections } from "../redis.js";
import { type TokenBuckets, tokenBuckets } from "./TokenBuckets.js";

/** Who a rate limit counts against: the API key, the token's subject in its tenant, or (dev mode) the tenant. */
export function rateLimitKey(principal: Principal): string {
  if (principal.via === "api_key" && principal.apiKeyId) return `api_key:${principal.apiKeyId}`;
  // JSON, so that no tenant and subject containing ':' can make another pair's key.
  if (principal.via === "jwt") return `jwt:${JSON.stringify([principal.tenantId, principal.subject])}`;
  return `tenant:${JSON.stringify(principal.tenantId)}`;
}

/** The executeProgram limit; `undefined` rate: off. Throws RATE_LIMITED (with retryAfterMs) when exceeded. */
export class ExecuteRateLimit {
  private readonly buckets?: TokenBuckets;

  /** With `redis` the buckets are shared by every instance; without, each instance counts alone. */
  constructor(
    private readonly rate: RateLimitConfig | undefined,
    redis?: RedisConnections,
  ) {
    if (rate) this.buckets = tokenBuckets(redis, "ratelimit:");
  }

  /** `executions`: how many the call queues (a batch's inputs); it costs that many tokens, at most the whole burst. */
  async check(principal: Principal | null, executions = 1): Promise<void> {
    if (!this.buckets || !this.rate || !principal) return;
    const retryAfterMs = await this.buckets.take(rateLimitKey(principal), this.rate, Math.min(executions, this.rate.burst));
    if (retryAfterMs > 0) {
      throw new AppError("RATE_LIMITED", `rate limited: executeProgram allows ${this.rate.text} (burst ${this.rate.burst}) per caller; retry in ${retryAfterMs} ms`, {
        retriable: true,
        extensions: { retryAfterMs },
      });
    }
  }
}
