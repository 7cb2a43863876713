import type { JobParameters, JobRepository } from "agenda";
import type { EntityManager } from "typeorm";
import type { HeldJob as HeldAttemptJob } from "../executions/ExecutionRunner.js";
import type { RunOutcome } from "../state/lease.js";
import { SqlJobRepository } from "./SqlJobRepository.js";

/**
 * A job this instance holds from the moment it exists (the local fast path of executions): it is
 * written to the job store already locked by this instance, with the run it stands for, and run here
 * at once, without a round through the store's queue. Everything else sees an ordinary locked job: if
 * this instance dies, the lock expires and another instance takes the job over as any job
 * (JOB_LOCK_LIFETIME_MS); the reconciler finds a run whose job was never written.
 *
 * Where the job store is the product's database (SQL), the job is written in the run's own
 * transaction and removed in the transaction of its terminal transition; elsewhere (MongoDB), just
 * after each commit.
 */
export class HeldJob implements HeldAttemptJob {
  private id: string | undefined;
  private finishedWithin = false;
  private readonly startedAt = new Date();

  constructor(
    private readonly repository: JobRepository,
    private readonly name: string,
    private readonly data: Record<string, unknown>,
    /** The Agenda name of this instance: the holder its saves are conditional on. */
    private readonly holder: string,
    /** Keep finished jobs as history (JOB_HISTORY_MS) rather than remove them. */
    private readonly keepHistory: boolean,
  ) {}

  /** Inside the run's transaction: writes the job there when the job store is that database. */
  async writeWithin(manager: EntityManager): Promise<void> {
    if (this.repository instanceof SqlJobRepository) this.id = await this.repository.insertIn(manager, this.parameters(), this.holder);
  }

  /** After the run's commit: writes the job when the store is elsewhere. */
  async afterCommit(): Promise<void> {
    if (this.id !== undefined) return;
    const saved = await this.repository.saveJob(this.parameters(), { lastModifiedBy: this.holder });
    this.id = saved._id === undefined ? undefined : String(saved._id);
  }

  /** Inside the transaction of the run's terminal transition: the job is done there too, where the store is that database. */
  async finishWithin(manager: EntityManager): Promise<void> {
    if (this.id === undefined || !(this.repository instanceof SqlJobRepository)) return;
    await this.repository.finishIn(manager, this.id, this.holder, this.keepHistory);
    this.finishedWithin = true;
  }

  /**
   * Once the run's attempt is over: done (removed, or kept as finished history) unless its terminal
   * transition already did that; or put back in the queue, unlocked, for `retryInMs` from now.
   */
  async end(outcome: RunOutcome): Promise<void> {
    if (this.id === undefined) return;
    if (outcome.done) {
      if (this.finishedWithin) return;
      if (this.keepHistory) await this.repository.saveJobState(this.state({ lockedAt: undefined, nextRunAt: null, lastFinishedAt: new Date() }), { lastModifiedBy: this.holder });
      else await this.repository.removeJobs({ id: this.id });
      return;
    }
    await this.repository.saveJobState(this.state({ lockedAt: undefined, nextRunAt: new Date(Date.now() + outcome.retryInMs) }), { lastModifiedBy: this.holder });
  }

  /** Renews the lock, so no other instance takes the job for abandoned while it runs. */
  async touch(): Promise<void> {
    if (this.id !== undefined) await this.repository.saveJobState(this.state({ lockedAt: new Date() }), { lastModifiedBy: this.holder });
  }

  private parameters(): JobParameters {
    const at = this.startedAt;
    return { name: this.name, data: this.data, type: "normal", priority: 0, nextRunAt: at, lockedAt: at, lastRunAt: at, disabled: false };
  }

  private state(changes: Partial<JobParameters>): JobParameters {
    return { ...this.parameters(), _id: this.id as JobParameters["_id"], ...changes };
  }
}
