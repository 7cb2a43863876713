/**
 * This instance's execution slots (JOB_CONCURRENCY), shared by the attempts Agenda runs and those the
 * local fast path starts. A waited-for execution that finds every slot taken waits here a little for
 * one (in memory: it is not written yet, so nothing is lost if this instance dies meanwhile) before it
 * is queued in the job store instead, whose round trip costs far more than the wait.
 */
export class ExecutionSlots {
  private used = 0;
  private readonly waiting: ((got: boolean) => void)[] = [];
  private closed = false;

  constructor(
    private readonly size: number,
    /** Waiters at most; more go to the queue at once. */
    private readonly maxWaiting: number,
    /** How long one waits at most. */
    private readonly maxWaitMs: number,
  ) {}

  /** An attempt Agenda started (its own concurrency bounds those): counted, never refused. */
  take(): void {
    this.used += 1;
  }

  /** A slot for the fast path, now or once one frees within `waitMs` (at most maxWaitMs); false: queue it. */
  acquire(waitMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.used < this.size) {
      this.used += 1;
      return Promise.resolve(true);
    }
    if (this.waiting.length >= this.maxWaiting) return Promise.resolve(false);
    return new Promise((resolve) => {
      const give = (got: boolean) => {
        clearTimeout(timer);
        resolve(got);
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(give), 1);
        resolve(false);
      }, Math.min(waitMs, this.maxWaitMs));
      this.waiting.push(give);
    });
  }

  /** A slot is free: it passes to the longest waiter, if any. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next(true);
    else this.used -= 1;
  }

  /** Stopping: no more slots; the waiters are queued instead. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter(false);
  }
}
