import { EventEmitter } from "node:events";
import { Agenda, type AgendaBackend, type BackoffStrategy, type Job } from "agenda";
import type { Execution } from "../../entities/index.js";
import type { ExecutionQueue, LocalStart } from "../executions/ExecutionService.js";
import type { ExecutionJobs } from "../executions/ExecutionReconciler.js";
import type { ExecutionRunner } from "../executions/ExecutionRunner.js";
import type { EvaluationRunner } from "../evaluations/EvaluationRunner.js";
import type { EvaluationQueue } from "../evaluations/EvaluationService.js";
import type { OptimizationRunner } from "../optimizations/OptimizationRunner.js";
import type { OptimizationQueue } from "../optimizations/OptimizationService.js";
import { SpanKind, withSpan } from "../observability/tracing.js";
import { ExecutionSlots } from "./ExecutionSlots.js";
import { HeldJob } from "./HeldJob.js";
import { holderName } from "./holder.js";

export const EXECUTE_PROGRAM = "execute-program";
export const EVALUATE_PROGRAM = "evaluate-program";
export const OPTIMIZE_PROGRAM = "optimize-program";
export const SCHEDULED_OPTIMIZATION = "scheduled-optimization";
export const EMBED_CORPUS = "embed-corpus";
/** How long a waited-for execution waits for a free slot here before it is queued in the job store instead. */
const SLOT_WAIT_MS = 1_000;
/** Times a job whose handler failed unexpectedly is run again before it is left failed in the store. */
const HANDLER_FAILURE_RETRIES = 5;

export interface JobSchedulerSettings {
  /** How often the store is polled for jobs nobody notified this instance about (retries, other instances' jobs). */
  pollMs: number;
  /**
   * A job whose lock is older than this is taken to belong to a dead instance and runs again.
   * Running jobs renew their lock every third of it.
   */
  lockLifetimeMs: number;
  /** Executions this instance runs at once. */
  concurrency: number;
  /** Evaluations this instance runs at once (EVALUATION_CONCURRENCY; default 1), on top of `concurrency`. */
  evaluationConcurrency?: number;
  /** Optimizations this instance runs at once (OPTIMIZATION_CONCURRENCY; default 1), on top of the others. */
  optimizationConcurrency?: number;
  /** How long finished jobs stay in the store (JOB_HISTORY_MS; default 0: removed when they finish). */
  historyMs?: number;
}

export interface ScheduledOptimizationData {
  scheduleId: string;
  tenantId: string;
}

/** Runs one firing of an optimization schedule (OptimizationScheduleService, set once it exists). */
export interface ScheduledOptimizations {
  runScheduled?: (scheduleId: string, tenantId: string) => Promise<void>;
}

/**
 * A job kind registered as one entry (DESIGN.md "Tables, not if-chains"): its name, its job slots on
 * this instance (on top of the others'), and a handler that says whether the job is done or when to
 * run it again.
 */
export interface JobKind<Data extends Record<string, unknown> = Record<string, unknown>> {
  name: string;
  concurrency: number;
  handler(data: Data): Promise<{ done: true } | { done: false; retryInMs: number }>;
}

interface OptimizeProgramData {
  optimizationId: string;
  tenantId: string;
}

interface EvaluateProgramData {
  evaluationId: string;
  tenantId: string;
}

interface ExecuteProgramData {
  executionId: string;
  tenantId: string;
}

/** A job handler that failed unexpectedly (not a run's own failure, which the run records): run again after `retryInMs`, or left failed (null). */
export interface JobHandlerFailure {
  job: string;
  attempt: number;
  maxAttempts: number;
  retryInMs: number | null;
  error: Error;
}

/** What the scheduler tells its observers (src/observability logs and counts them). */
export interface JobSchedulerEvents {
  "handler-failed": [JobHandlerFailure];
  "store-error": [unknown];
  "lock-renewal-failed": [{ job: string; error: unknown }];
}

/** Carries the runner's retry delay to Agenda's backoff, which reschedules the job. */
class RetryLater extends Error {
  constructor(readonly retryInMs: number) {
    super(`retry in ${retryInMs} ms`);
  }
}

/**
 * Agenda on the configured job store: `execute-program` jobs hand their execution to the runner.
 * Retries are Agenda's own (backoff), with the delay the runner chose.
 */
export class JobScheduler extends EventEmitter<JobSchedulerEvents> implements ExecutionQueue, ExecutionJobs, EvaluationQueue, OptimizationQueue {
  private purgeTimer?: NodeJS.Timeout;
  /** Attempts of executions running on this instance, from Agenda's queue or started here (startHere). */
  private readonly slots: ExecutionSlots;
  /** The local runs in flight, which stop() waits for as Agenda waits for its jobs. */
  private readonly localRuns = new Set<Promise<unknown>>();
  private stopping = false;

  private constructor(
    private readonly agenda: Agenda,
    private readonly backend: AgendaBackend,
    private readonly runner: ExecutionRunner,
    private readonly holder: string,
    concurrency: number,
    private readonly historyMs = 0,
  ) {
    super();
    this.slots = new ExecutionSlots(concurrency, 4 * concurrency, SLOT_WAIT_MS);
    if (historyMs > 0) {
      this.purgeTimer = setInterval(() => void this.purgeHistory().catch(() => undefined), Math.min(historyMs, 60_000));
      this.purgeTimer.unref();
    }
  }

  /** Removes finished jobs (completed, or failed for good) older than JOB_HISTORY_MS; resolves with how many. */
  async purgeHistory(now = Date.now()): Promise<number> {
    const ids: string[] = [];
    for (const state of ["completed", "failed"] as const) {
      const { jobs } = await this.agenda.queryJobs({ state });
      for (const job of jobs) {
        const finished = job.lastFinishedAt ? new Date(job.lastFinishedAt).getTime() : 0;
        if (!job.nextRunAt && !job.lockedAt && finished > 0 && now - finished >= this.historyMs) ids.push(String(job._id));
      }
    }
    return ids.length > 0 ? this.agenda.cancel({ ids }) : 0;
  }

  static async start(
    backend: AgendaBackend,
    runner: ExecutionRunner,
    settings: JobSchedulerSettings,
    evaluations?: EvaluationRunner,
    optimizations?: OptimizationRunner,
    scheduled?: ScheduledOptimizations,
    kinds: JobKind[] = [],
  ): Promise<JobScheduler> {
    const evaluationConcurrency = evaluations ? (settings.evaluationConcurrency ?? 1) : 0;
    const optimizationConcurrency = optimizations ? (settings.optimizationConcurrency ?? 1) : 0;
    const kindsConcurrency = kinds.reduce((sum, kind) => sum + kind.concurrency, 0);
    const holder = holderName();
    const agenda = new Agenda({
      backend,
      // Written into every job this instance claims; its saves of a job's state hold only while the job carries it (holder.ts).
      name: holder,
      processEvery: settings.pollMs,
      defaultLockLifetime: settings.lockLifetimeMs,
      maxConcurrency: settings.concurrency + evaluationConcurrency + optimizationConcurrency + kindsConcurrency,
      // Finished one-time jobs are history the execution already keeps, unless the operator wants to see
      // them in the store (Agendash) for a while (JOB_HISTORY_MS).
      removeOnComplete: !settings.historyMs,
    });
    const scheduler = new JobScheduler(agenda, backend, runner, holder, settings.concurrency, settings.historyMs ?? 0);
    agenda.on("error", (error: unknown) => scheduler.emit("store-error", error));
    // The handler itself failed (e.g. the database was briefly unreachable): run it again, and the
    // runner picks up from whatever state its run was left in. A RetryLater is the runner's own delay.
    const backoffFor =
      (job: string): BackoffStrategy =>
      ({ error, attempt }) => {
        if (error instanceof RetryLater) return error.retryInMs;
        const retryInMs = attempt <= HANDLER_FAILURE_RETRIES ? Math.min(1_000 * 2 ** (attempt - 1), 30_000) : null;
        scheduler.emit("handler-failed", { job, attempt, maxAttempts: HANDLER_FAILURE_RETRIES, retryInMs, error });
        return retryInMs;
      };
    const renewLock = (job: Job, everyMs: number) => keepLockFresh(job, everyMs, (error) => scheduler.emit("lock-renewal-failed", { job: job.attrs.name, error }));
    agenda.define<ExecuteProgramData>(
      EXECUTE_PROGRAM,
      async (job) => {
        const stopRenewing = renewLock(job, settings.lockLifetimeMs / 3);
        scheduler.slots.take();
        try {
          const outcome = await runner.run(job.attrs.data.executionId, job.attrs.data.tenantId);
          if (!outcome.done) throw new RetryLater(outcome.retryInMs);
        } finally {
          scheduler.slots.release();
          stopRenewing();
        }
      },
      {
        concurrency: settings.concurrency,
        lockLimit: settings.concurrency,
        lockLifetime: settings.lockLifetimeMs,
        backoff: backoffFor(EXECUTE_PROGRAM),
      },
    );
    // A finished job frees a slot: look for the next job now rather than at the next poll (jobs announced
    // while every slot was taken were left unlocked), and pick up a retry this job just scheduled. Over a
    // shared channel (Redis) other instances' completions arrive too (`remote`, no Job): theirs to announce.
    agenda.on(`complete:${EXECUTE_PROGRAM}`, (job: Job, remote?: boolean) => {
      if (!remote) setImmediate(() => void agenda.publishJobNotification(job));
    });
    if (evaluations) {
      agenda.define<EvaluateProgramData>(
        EVALUATE_PROGRAM,
        async (job) => {
          const stopRenewing = renewLock(job, settings.lockLifetimeMs / 3);
          try {
            const outcome = await evaluations.run(job.attrs.data.evaluationId, job.attrs.data.tenantId);
            if (!outcome.done) throw new RetryLater(outcome.retryInMs);
          } finally {
            stopRenewing();
          }
        },
        {
          concurrency: evaluationConcurrency,
          lockLimit: evaluationConcurrency,
          lockLifetime: settings.lockLifetimeMs,
          // The runner records every failure on the evaluation; a run another instance holds is looked at again
          // when its lease would expire (RetryLater); a failing handler (e.g. the database briefly
          // unreachable) runs again, and picks up from the state the evaluation was left in.
          backoff: backoffFor(EVALUATE_PROGRAM),
        },
      );
      agenda.on(`complete:${EVALUATE_PROGRAM}`, (job: Job, remote?: boolean) => {
        if (!remote) setImmediate(() => void agenda.publishJobNotification(job));
      });
    }
    if (optimizations) {
      agenda.define<OptimizeProgramData>(
        OPTIMIZE_PROGRAM,
        async (job) => {
          const stopRenewing = renewLock(job, settings.lockLifetimeMs / 3);
          try {
            const outcome = await optimizations.run(job.attrs.data.optimizationId, job.attrs.data.tenantId);
            if (!outcome.done) throw new RetryLater(outcome.retryInMs);
          } finally {
            stopRenewing();
          }
        },
        {
          concurrency: optimizationConcurrency,
          lockLimit: optimizationConcurrency,
          lockLifetime: settings.lockLifetimeMs,
          // As evaluate-program: the runner records every failure; a held run is looked at again later; a failing handler runs again.
          backoff: backoffFor(OPTIMIZE_PROGRAM),
        },
      );
      agenda.on(`complete:${OPTIMIZE_PROGRAM}`, (job: Job, remote?: boolean) => {
        if (!remote) setImmediate(() => void agenda.publishJobNotification(job));
      });
    }
    if (scheduled) {
      // A firing only queues an optimize-program job (which has the slots and workers), so it is short.
      agenda.define<ScheduledOptimizationData>(
        SCHEDULED_OPTIMIZATION,
        async (job) => {
          if (!scheduled.runScheduled) throw new Error("scheduled optimizations are not ready yet");
          await scheduled.runScheduled(job.attrs.data.scheduleId, job.attrs.data.tenantId);
        },
        { concurrency: 1, lockLifetime: settings.lockLifetimeMs },
      );
    }
    for (const kind of kinds) {
      agenda.define<Record<string, unknown>>(
        kind.name,
        async (job) => {
          const stopRenewing = renewLock(job, settings.lockLifetimeMs / 3);
          try {
            const outcome = await kind.handler(job.attrs.data);
            if (!outcome.done) throw new RetryLater(outcome.retryInMs);
          } finally {
            stopRenewing();
          }
        },
        {
          concurrency: kind.concurrency,
          lockLimit: kind.concurrency,
          lockLifetime: settings.lockLifetimeMs,
          backoff: backoffFor(kind.name),
        },
      );
      agenda.on(`complete:${kind.name}`, (job: Job, remote?: boolean) => {
        if (!remote) setImmediate(() => void agenda.publishJobNotification(job));
      });
    }
    await agenda.start();
    return scheduler;
  }

  async enqueueCorpusEmbedding(data: { corpusId: string; tenantId: string }): Promise<void> {
    await this.agenda.now(EMBED_CORPUS, data);
  }

  async enqueueEvaluation(data: EvaluateProgramData): Promise<void> {
    await this.agenda.now(EVALUATE_PROGRAM, data);
  }

  async enqueueOptimization(data: OptimizeProgramData): Promise<void> {
    await this.agenda.now(OPTIMIZE_PROGRAM, data);
  }

  /**
   * The recurring job of one schedule (unique per schedule id; saving again replaces its cron). The
   * first run is the cron's next time, not now.
   */
  async scheduleRecurring(data: ScheduledOptimizationData, cron: string, timezone: string | null): Promise<void> {
    await this.agenda
      .create(SCHEDULED_OPTIMIZATION, data)
      .unique({ "data.scheduleId": data.scheduleId })
      .repeatEvery(cron, { timezone: timezone ?? undefined, skipImmediate: true })
      .save();
  }

  /** Removes a schedule's recurring job. */
  async unscheduleRecurring(data: ScheduledOptimizationData): Promise<void> {
    await this.agenda.cancel({ name: SCHEDULED_OPTIMIZATION, data: { scheduleId: data.scheduleId, tenantId: data.tenantId } });
  }

  /**
   * The local fast path (README "Executions"): while this instance has a free execution slot, a new
   * execution is created RUNNING with a job this instance holds from the start (HeldJob), and runs at
   * once, with no round through the queue. The job is in the store all the while, locked: should this
   * instance die, its lock expires and any instance takes it over, as any job.
   */
  async startHere(data: ExecuteProgramData, maxAttempts: number, waitMs: number): Promise<LocalStart | null> {
    if (this.stopping || !(await this.slots.acquire(waitMs))) return null;
    let freed = false;
    const free = () => {
      if (!freed) this.slots.release();
      freed = true;
    };
    const job = new HeldJob(this.backend.repository, EXECUTE_PROGRAM, { ...data }, this.holder, this.historyMs > 0);
    return {
      start: this.runner.startOf(1, maxAttempts),
      writeWithin: (manager) => job.writeWithin(manager),
      // The producer span of a traced request, as for a queued job.
      afterCommit: () => publishing(data, () => job.afterCommit()),
      run: (running: Execution) => {
        const run = this.runner.runHeld(running, job).finally(() => {
          free();
          this.localRuns.delete(run);
        });
        this.localRuns.add(run);
        return run;
      },
      abandon: free,
    };
  }

  async enqueue(data: ExecuteProgramData): Promise<void> {
    await publishing(data, () => this.agenda.now(EXECUTE_PROGRAM, data));
  }

  async executionsWithLiveJobs(): Promise<Set<string>> {
    const { jobs } = await this.agenda.queryJobs({ name: EXECUTE_PROGRAM });
    // A job that is neither scheduled nor locked will never run again (a handler that failed for good).
    const live = jobs.filter((job) => job.nextRunAt || job.lockedAt);
    return new Set(live.map((job) => (job.data as ExecuteProgramData).executionId));
  }

  async requeue(data: ExecuteProgramData): Promise<void> {
    await this.agenda.cancel({ name: EXECUTE_PROGRAM, data: { executionId: data.executionId } });
    await this.enqueue(data);
  }

  /** Jobs of executions (or of `name`) in the store: queued, running or waiting for a retry, and finished ones kept as history; or those in `state`. */
  async countJobs(name: string = EXECUTE_PROGRAM, state?: "completed" | "failed" | "running" | "queued"): Promise<number> {
    return (await this.agenda.queryJobs(state ? { name, state } : { name })).total;
  }

  /** Lets running jobs finish (up to `timeoutMs`), then disconnects from the store. */
  async stop(timeoutMs: number): Promise<void> {
    clearInterval(this.purgeTimer);
    this.stopping = true;
    this.slots.close();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.all([Promise.race([Promise.allSettled([...this.localRuns]), timeout]).finally(() => clearTimeout(timer)), this.agenda.drain({ timeout: timeoutMs })]);
  }
}

/** The producer span of an execution's job being put in the store: only inside a traced request (the reconciler's requeues are nobody's trace). */
function publishing<T>(data: ExecuteProgramData, send: () => Promise<T>): Promise<T> {
  const attributes = { "messaging.system": "agenda", "messaging.operation.type": "send", "messaging.destination.name": EXECUTE_PROGRAM, "dspy.execution.id": data.executionId };
  return withSpan(`${EXECUTE_PROGRAM} publish`, { kind: SpanKind.PRODUCER, onlyInTrace: true, attributes }, send);
}

/** Keeps a long job's lock fresh so no other instance takes it for abandoned. */
function keepLockFresh(job: Pick<Job, "touch">, everyMs: number, onError: (error: unknown) => void): () => void {
  const timer = setInterval(() => {
    job.touch().catch(onError);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
