/**
 * Leases on RUNNING runs (executions, evaluations, optimizations). The row, not the job store, says
 * who runs an attempt: RUNNING carries `leaseExpiresAt`, renewed by the attempt's instance while it
 * runs; another instance takes the run over only once it has passed. A job whose own transition did
 * not apply is done only once its run is terminal; otherwise it looks again later (README "Executions").
 */

/** What a job should do next: nothing (it is removed), or run again after a delay. */
export type RunOutcome = { done: true } | { done: false; retryInMs: number };

export const DONE: RunOutcome = { done: true };

/** Milliseconds until a RUNNING row's lease expires (0 when it has, or it has none). */
export function leaseLeft(row: { leaseExpiresAt: Date | null }): number {
  return row.leaseExpiresAt ? Math.max(0, row.leaseExpiresAt.getTime() - Date.now()) : 0;
}

/** Look again after `ms` (a little more, so a lease that expires then has expired). */
export function later(ms: number): RunOutcome {
  return { done: false, retryInMs: ms > 0 ? ms + LEASE_MARGIN_MS : ms };
}

const LEASE_MARGIN_MS = 100;

/**
 * What a job does after a transition of its own did not apply (the row changed under it), given the
 * row as it is now: done once it is terminal (or gone); otherwise look again later, for someone else
 * holds it (or will, once its lease has expired). Never done while it can still run: removing the job
 * then would leave it with none.
 */
export function settled(now: { status: string; leaseExpiresAt: Date | null } | null, terminal: readonly string[]): RunOutcome {
  if (!now || terminal.includes(now.status)) return DONE;
  return later(now.status === "RUNNING" ? leaseLeft(now) : 0);
}

/**
 * Renews an attempt's lease every `everyMs` while it runs, and aborts `controller` once a renewal
 * finds the lease lost (cancelled, possibly on another instance, or taken over after a stall).
 * Returns what stops it.
 */
export function keepLease(renew: () => Promise<boolean>, everyMs: number, controller: AbortController): () => void {
  const timer = setInterval(() => {
    if (controller.signal.aborted) return;
    // The database busy or gone: the next renewal, or the attempt's end, will tell.
    void renew()
      .catch(() => true)
      .then((held) => {
        if (!held) controller.abort();
      });
  }, everyMs);
  return () => clearInterval(timer);
}
