import { AppError } from "../errors.js";
import type { RedisConnections } from "../redis.js";
import { type BucketRate, type TokenBuckets, tokenBuckets } from "./TokenBuckets.js";

/** A language model's own limits (null: none). */
export interface LmLimits {
  id: string;
  name?: string;
  requestsPerMinute: number | null;
  tokensPerMinute: number | null;
}

/**
 * Requests and tokens per minute per language model (README "Release management", "Per-LM limits"),
 * in this process or, with Redis, shared by every instance. An LM call waits for its request and for
 * the model's tokens to be paid back (`acquire`), as long as its run's deadline allows; past it, it
 * fails with LM_RATE_LIMITED (retriable). Its tokens are counted once it is answered (`spend`).
 */
export class LmRateLimiter {
  private readonly buckets: TokenBuckets;

  constructor(redis?: RedisConnections, onError: (error: unknown) => void = () => undefined) {
    this.buckets = tokenBuckets(redis, "lmlimit:", onError);
  }

  /** Waits until `lm` may be called; throws LM_RATE_LIMITED when that would be after `deadlineAt` (epoch ms), CANCELLED-like `signal.reason` when aborted. */
  async acquire(lm: LmLimits, deadlineAt: number, signal?: AbortSignal): Promise<void> {
    if (lm.requestsPerMinute === null && lm.tokensPerMinute === null) return;
    for (;;) {
      // Tokens first, taking none (cost 0: only until earlier calls' tokens are paid back), so that a call never
      // holds a request it cannot use; its own tokens are counted when it is answered.
      const tokensWait = lm.tokensPerMinute !== null ? await this.buckets.take(`${lm.id}:tokens`, perMinute(lm.tokensPerMinute), 0) : 0;
      if (tokensWait === 0) {
        const requestWait = lm.requestsPerMinute !== null ? await this.buckets.take(`${lm.id}:requests`, perMinute(lm.requestsPerMinute), 1) : 0;
        if (requestWait === 0) return;
        await this.wait(lm, requestWait, deadlineAt, signal);
      } else {
        await this.wait(lm, tokensWait, deadlineAt, signal);
      }
    }
  }

  /** Counts an answered call's tokens against the model's tokens per minute. */
  spend(lm: LmLimits, tokens: number): void {
    if (lm.tokensPerMinute !== null && tokens > 0) this.buckets.debit(`${lm.id}:tokens`, perMinute(lm.tokensPerMinute), tokens);
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

/** A limit per minute as a bucket: it holds at most a minute's worth. */
function perMinute(count: number): BucketRate {
  return { burst: count, perMs: count / 60_000 };
}
