/**
 * When a local worker slot starts its next process after one died. Per slot, so one crash-looping
 * slot never delays another. A worker that came up and served a while is replaced at once (a crash
 * that is not instantaneous must never leave the pool without a live worker for long); only one that
 * died while starting or right after waits, with a bounded backoff, so a broken environment does not
 * spawn processes in a tight loop.
 */
export interface RestartPolicy {
  /** A worker that said `ready` and lived at least this long (ms since it was spawned) is replaced at once. */
  minUptimeMs: number;
  /** The first wait after a quicker death; it doubles with each quick death in a row... */
  initialBackoffMs: number;
  /** ...up to this. */
  maxBackoffMs: number;
  /** A worker that lived this long resets its slot's wait to `initialBackoffMs`. */
  stableMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { minUptimeMs: 1_000, initialBackoffMs: 100, maxBackoffMs: 5_000, stableMs: 30_000 };

export interface WorkerDeath {
  uptimeMs: number;
  /** Whether it had said `ready` before it died. */
  wasReady: boolean;
}

/** The wait before the slot's next start, and the backoff the slot keeps for its next death. */
export function nextRestart(policy: RestartPolicy, backoffMs: number, death: WorkerDeath): { delayMs: number; backoffMs: number } {
  const current = death.uptimeMs >= policy.stableMs ? policy.initialBackoffMs : backoffMs;
  if (death.wasReady && death.uptimeMs >= policy.minUptimeMs) return { delayMs: 0, backoffMs: current };
  return { delayMs: current, backoffMs: Math.min(current * 2, policy.maxBackoffMs) };
}
