import { Execution, ExecutionStatus } from "../../entities/index.js";
import type { Database } from "../db/Database.js";

/** What the reconciler needs of the job store. */
export interface ExecutionJobs {
  /** Ids of the executions that have a job that will still run (queued, waiting for a retry, or locked). */
  executionsWithLiveJobs(): Promise<Set<string>>;
  /** Replaces whatever job `executionId` had (none, or one that will never run again) with a new one. */
  requeue(job: { executionId: string; tenantId: string }): Promise<void>;
}

export interface ReconcilerSettings {
  /** How often to look (EXECUTION_RECONCILE_MS). */
  intervalMs: number;
  /**
   * How long a PENDING execution may go unchanged, or a RUNNING one stay past its lease, before its
   * job is checked (JOB_LOCK_LIFETIME_MS): younger ones are being queued or taken over right now.
   */
  staleMs: number;
}

/** Executions read per query; a round reads on until it has seen every stale one. */
const BATCH = 500;
const { PENDING, RUNNING } = ExecutionStatus;

/**
 * The safety net under the job store: no execution stays PENDING or RUNNING without a job that will
 * run it. Such an execution appears when an instance dies between committing an execution and
 * queueing its job, when a job's handler failed for good (a long database outage), or when the job
 * store lost a job. Each round finds the stale non-terminal executions, asks the job store which of
 * them still have a live job, and queues a job for the others; that job then runs, resumes or takes
 * over the execution as any job would (ExecutionRunner). Every instance runs one; two queueing the
 * same execution at once cost one extra job, which finds the execution taken and does nothing.
 */
export class ExecutionReconciler {
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;

  constructor(
    private readonly database: Database,
    private readonly jobs: ExecutionJobs,
    private readonly settings: ReconcilerSettings,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.round ??= this.reconcile()
        .then(() => undefined)
        .catch((error: unknown) => console.error("[reconciler] round failed:", error instanceof Error ? error.message : error))
        .finally(() => (this.round = undefined));
    }, this.settings.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.round;
  }

  /** One round; resolves with the executions it queued again. */
  async reconcile(): Promise<string[]> {
    const before = new Date(Date.now() - this.settings.staleMs);
    const requeued: string[] = [];
    let live: Set<string> | undefined;
    for (let after = ""; ; ) {
      const stale = await this.staleExecutions(before, after);
      if (stale.length === 0) return requeued;
      // Read once a round, and only when there is something to check against it.
      live ??= await this.jobs.executionsWithLiveJobs();
      for (const execution of stale) {
        if (live.has(execution.id)) continue;
        await this.jobs.requeue({ executionId: execution.id, tenantId: execution.tenantId });
        console.error(`[reconciler] execution ${execution.id} was ${execution.status} with no job that would run it: queued a new one`);
        requeued.push(execution.id);
      }
      after = stale[stale.length - 1].id;
    }
  }

  /** PENDING ones unchanged since `before`, RUNNING ones whose lease ran out before it; by id, after `after`. */
  private async staleExecutions(before: Date, after: string): Promise<Pick<Execution, "id" | "tenantId" | "status">[]> {
    return this.database.manager
      .createQueryBuilder(Execution, "e")
      .select(["e.id", "e.tenantId", "e.status"])
      .where("e.id > :after", { after })
      .andWhere(
        "((e.status = :pending AND e.updatedAt < :before) OR (e.status = :running AND e.updatedAt < :before AND (e.leaseExpiresAt IS NULL OR e.leaseExpiresAt < :before)))",
        { pending: PENDING, running: RUNNING, before },
      )
      .orderBy("e.id", "ASC")
      .limit(BATCH)
      .getMany();
  }
}
