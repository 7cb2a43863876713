import { Execution, ExecutionStatus, LanguageModel, ProgramVersion, type ExecutionError } from "../../entities/index.js";
import type { EntityManager } from "typeorm";
import { INSTANCE_ID } from "../instance.js";
import { loadRunContext } from "../programs/dependencies.js";
import { programOf } from "../programs/programOf.js";
import { VersionCache } from "../programs/VersionCache.js";
import type { DspyAdapter, ExecuteResult } from "../adapters/DspyAdapter.js";
import type { Database } from "../db/Database.js";
import { findRow } from "../db/findRow.js";
import { AppError } from "../errors.js";
import type { EventBus } from "../pubsub.js";
import { CancelWatch } from "../state/CancelWatch.js";
import { DONE, keepLease, later, leaseLeft, type RunOutcome, settled } from "../state/lease.js";
import { recordedError } from "../state/recordedError.js";
import { type Span, SpanKind, contextFromTraceparent, withSpan } from "../observability/tracing.js";
import { EXECUTION_UPDATED, type ExecutionUpdate } from "./ExecutionEvents.js";
import { MemoryOutputReplay, OutputPublisher, type OutputReplay } from "./ExecutionOutput.js";
import { addCost, priceTrace } from "./executionCost.js";
import { ModelPrices } from "../languageModels/ModelPrices.js";
import type { BudgetService } from "../budgets/BudgetService.js";
import type { LanguageModelService } from "../languageModels/LanguageModelService.js";
import { type ExecutionStateMachine, TERMINAL } from "./ExecutionStateMachine.js";

export interface RunnerSettings {
  /** Deadline of one attempt, from the worker's point of view. */
  deadlineMs: number;
  /** LM calls one attempt may make (MAX_LM_CALLS_PER_EXECUTION); unset: the worker's default. */
  maxLmCalls?: number;
  /** Delay before the first retry; doubles per attempt up to `retryMaxMs`. */
  retryInitialMs: number;
  retryMaxMs: number;
  /**
   * How often a running attempt renews its lease, at most (a failed renewal is also how it learns of a
   * cancel made on another instance, which is not on this bus).
   */
  cancelPollMs: number;
  /** How long an attempt's lease lasts without renewal (JOB_LOCK_LIFETIME_MS): a holder silent that long is gone. */
  leaseMs: number;
}

/** What the runner works with (server.ts composes them). */
export interface ExecutionRunnerParts {
  database: Database;
  stateMachine: ExecutionStateMachine;
  adapter: DspyAdapter;
  events: EventBus;
  /** Where a running execution's output is kept for late subscribers (default: this process's memory). */
  output?: OutputReplay;
  prices?: ModelPrices;
  /** Checked as each attempt starts: a run queued while under budget may find it spent. */
  budgets?: Pick<BudgetService, "check">;
  /** The run's language model, read at most every LM_FRESH_MS. */
  languageModels: Pick<LanguageModelService, "forRun">;
}

const { PENDING, RUNNING, COMPLETED, FAILED, CANCELLED } = ExecutionStatus;

/**
 * One attempt of one execution, as the job handler runs it: PENDING → RUNNING, the adapter, then
 * COMPLETED, FAILED, or back to PENDING for a retry. Every step goes through the state machine, so
 * a cancelled execution's result is discarded and an attempt that lost its job lock cannot complete
 * the execution twice.
 *
 * The execution row, not the job store, says who runs an attempt: RUNNING carries a lease that its
 * instance renews while the attempt runs. A job that finds its execution RUNNING under a live lease
 * (two holders of one job: a lock taken over from a paused instance, or a job store whose locking is
 * not atomic) leaves it alone and looks again once the lease would have expired; only an expired
 * lease means the holder is gone. And a job is done (removed) only once its execution is terminal,
 * so a holder that lost the race never removes the job the winner still needs.
 *
 * An attempt that can no longer renew its lease (cancelled, or taken over after it stalled) is
 * aborted on its worker, which stops before its next module or LM call: at once for a cancel made
 * on this instance (the bus), within the renewal period otherwise.
 */
export class ExecutionRunner {
  private readonly cancels: CancelWatch<ExecutionUpdate>;

  private readonly database: Database;
  private readonly stateMachine: ExecutionStateMachine;
  private readonly adapter: DspyAdapter;
  private readonly events: EventBus;
  private readonly output: OutputReplay;
  private readonly prices: ModelPrices;
  private readonly budgets: Pick<BudgetService, "check"> | undefined;
  private readonly languageModels: Pick<LanguageModelService, "forRun">;

  constructor(
    parts: ExecutionRunnerParts,
    private readonly settings: RunnerSettings,
  ) {
    this.database = parts.database;
    this.stateMachine = parts.stateMachine;
    this.adapter = parts.adapter;
    this.events = parts.events;
    this.output = parts.output ?? new MemoryOutputReplay();
    this.prices = parts.prices ?? new ModelPrices();
    this.budgets = parts.budgets;
    this.languageModels = parts.languageModels;
    this.cancels = new CancelWatch(parts.events, EXECUTION_UPDATED, (u) => (u.event.to === CANCELLED ? u.execution.id : null));
  }

  /** Stops watching the bus (the server's shutdown; running attempts drain with the worker pool). */
  async close(): Promise<void> {
    await this.cancels.close(false);
  }

  async run(executionId: string, tenantId: string): Promise<RunOutcome> {
    const execution = await findRow(this.database.manager, Execution, { id: executionId, tenantId });
    if (!execution || TERMINAL.includes(execution.status)) return DONE;
    // The job's span continues the trace of the request that created the execution (its traceparent is
    // on the row, so this holds on any instance, and for every attempt and requeue).
    return withSpan(`${JOB_NAME} process`, { kind: SpanKind.CONSUMER, parent: contextFromTraceparent(execution.traceparent), attributes: this.spanAttributes(execution) }, async (span) => {
      const outcome = await this.pickUp(execution, span);
      span?.setAttribute("dspy.job.outcome", outcome.done ? "done" : "later");
      return outcome;
    });
  }

  private spanAttributes(execution: Execution) {
    return { "messaging.system": "agenda", "messaging.operation.type": "process", "messaging.destination.name": JOB_NAME, "dspy.execution.id": execution.id };
  }

  private async pickUp(found: Execution, span: Span | undefined): Promise<RunOutcome> {
    let execution = found;
    if (execution.status === RUNNING) {
      const held = leaseLeft(execution);
      if (held > 0) return later(held); // its holder is alive: this job is a second copy of the same attempt
      // The lease expired: the instance running this attempt stopped (or stalled) before it finished.
      const requeued = await this.stateMachine.transition({ from: execution, to: PENDING, reason: `attempt ${execution.attempt} was interrupted (its instance stopped); requeued` });
      if (!requeued) return this.settle(execution);
      execution = requeued;
    }
    if (execution.attempt >= execution.maxAttempts) {
      const error = failure("ATTEMPTS_EXHAUSTED", "scheduler", `all ${execution.maxAttempts} attempts were used`, false);
      const failed = await this.stateMachine.transition({ from: execution, to: FAILED, reason: error.message, changes: { error, finishedAt: new Date() } });
      return failed ? DONE : this.settle(execution);
    }
    const start = this.startOf(execution.attempt + 1, execution.maxAttempts);
    const running = await this.stateMachine.transition({
      from: execution,
      to: RUNNING,
      reason: start.reason,
      changes: { attempt: execution.attempt + 1, startedAt: new Date(), leaseExpiresAt: start.leaseExpiresAt },
    });
    if (!running) return this.settle(execution); // cancelled, or another holder started it first
    span?.setAttribute("dspy.execution.attempt", running.attempt);
    return (await this.attempt(running)).outcome;
  }

  /** What the start of an attempt on this instance says, and its first lease. */
  startOf(attempt: number, maxAttempts: number): { reason: string; leaseExpiresAt: Date } {
    return { reason: `attempt ${attempt} of ${maxAttempts} started on ${INSTANCE_ID}`, leaseExpiresAt: this.leaseFromNow() };
  }

  private leaseFromNow(): Date {
    return new Date(Date.now() + this.settings.leaseMs);
  }

  private async settle(seen: Execution): Promise<RunOutcome> {
    return settled(await findRow(this.database.manager, Execution, { id: seen.id, tenantId: seen.tenantId }), TERMINAL);
  }

  private readonly versions = new VersionCache();

  private version(execution: Execution): Promise<ProgramVersion | null> {
    return this.versions.get(execution.tenantId, execution.programVersionId, () =>
      findRow(this.database.manager, ProgramVersion, { id: execution.programVersionId, tenantId: execution.tenantId }),
    );
  }

  /**
   * The attempt of an execution created RUNNING by this instance with a job it holds (the local fast
   * path, src/jobs/HeldJob.ts): run now, the job done in the terminal transition's transaction or put
   * back in the queue for a retry. Resolves with the execution as its last transition left it (null
   * when it changed elsewhere: cancelled, or taken over).
   */
  async runHeld(running: Execution, job: HeldJob): Promise<Execution | null> {
    return withSpan(`${JOB_NAME} process`, { kind: SpanKind.CONSUMER, parent: contextFromTraceparent(running.traceparent), attributes: this.spanAttributes(running) }, async (span) => {
      span?.setAttribute("dspy.execution.attempt", running.attempt);
      let attempted: Attempted;
      try {
        attempted = await this.attempt(running, job);
      } catch (error) {
        // As a job handler that failed (the database briefly gone): the job runs again shortly, from the state the execution is in.
        await job.end(later(HANDLER_RETRY_MS)).catch(() => undefined);
        throw error;
      }
      // Not ended (the store unreachable): the job stays locked, and whoever takes it once its lock expires finds the execution as it is.
      await job.end(attempted.outcome).catch(() => undefined);
      span?.setAttribute("dspy.job.outcome", attempted.outcome.done ? "done" : "later");
      return attempted.execution;
    });
  }

  private async attempt(running: Execution, job?: HeldJob): Promise<Attempted> {
    const controller = this.cancels.start(running.id);
    let touched = Date.now();
    const renew = async () => {
      const held = await this.stateMachine.renewLease(running, this.leaseFromNow());
      // A held job's lock is renewed as Agenda renews its own jobs' (every third of its lifetime).
      if (held && job && Date.now() - touched >= this.settings.leaseMs / 3) {
        touched = Date.now();
        await job.touch().catch(() => undefined);
      }
      return held;
    };
    // Renewing is also how an attempt learns of a cancel made on another instance: so at least as often as cancelPollMs.
    const stopLease = keepLease(renew, Math.min(this.settings.cancelPollMs, this.settings.leaseMs / 3), controller);
    try {
      return await this.attemptWith(running, controller.signal, job);
    } finally {
      stopLease();
      this.cancels.finish(running.id);
      // Its end is published: whoever subscribes now reads the execution itself.
      this.output.clear(running.id);
    }
  }

  private async attemptWith(running: Execution, signal: AbortSignal, job?: HeldJob): Promise<Attempted> {
    // A terminal transition ends a held job in its own transaction.
    const also = job ? (manager: EntityManager) => job.finishWithin(manager) : undefined;
    let error: ExecutionError;
    let adapter: string | null;
    let cost: number | null;
    // The attempt's LM calls priced (each trace call gets its cost), added to what earlier attempts cost.
    let lmOfRun: LanguageModel | null = null;
    const costAfter = (trace: unknown) => (lmOfRun ? addCost(running.cost ?? null, priceTrace(trace, lmOfRun, this.prices)) : (running.cost ?? null));
    try {
      const [version, lm] = await Promise.all([
        this.version(running),
        this.languageModels.forRun(running.tenantId, running.languageModelId),
      ]);
      if (!version) throw new AppError("NOT_FOUND", `program version '${running.programVersionId}' no longer exists`, { layer: "storage" });
      if (!lm) throw new AppError("NOT_FOUND", `language model '${running.languageModelId}' no longer exists`, { layer: "storage" });
      lmOfRun = lm;
      await this.budgets?.check(running.tenantId, running.languageModelId);
      const program = programOf(version);
      const context = await loadRunContext(this.database.manager, running.tenantId, program);
      // The attempt's output as it is written (executionOutput), all of it published before its end is.
      const publisher = new OutputPublisher(this.events, this.output, running.tenantId, running.id, running.attempt);
      let result: ExecuteResult;
      try {
        result = await this.adapter.execute({
          program: { versionId: version.id, program, compiledState: version.compiledState },
          lm,
          inputs: running.inputs,
          ...context,
          deadlineMs: this.settings.deadlineMs,
          ...(this.settings.maxLmCalls ? { maxLmCalls: this.settings.maxLmCalls } : {}),
          signal,
          onOutput: publisher.push,
        });
      } finally {
        publisher.close();
      }
      // Null when it was cancelled (or taken over) while running: the result is discarded.
      const completed = await this.stateMachine.transition({
        from: running,
        to: COMPLETED,
        reason: `attempt ${running.attempt} completed`,
        changes: { outputs: result.outputs, trace: result.trace, usage: result.usage, cost: costAfter(result.trace), adapter: result.adapter ?? null, error: null, finishedAt: new Date(), leaseExpiresAt: null },
        also,
      });
      return completed ? { outcome: DONE, execution: completed } : this.settled(running);
    } catch (cause) {
      if (signal.aborted) return this.settled(running); // cancelled or taken over: the execution says which
      error = recordedError(cause, "execution");
      cost = costAfter(error.details?.trace);
      // The native adapter names which one failed; the others are the only one there is.
      adapter = cause instanceof AppError && typeof cause.details?.adapter === "string" ? cause.details.adapter : (RAN_BY[this.adapter.name] ?? null);
    }
    if (error.retriable && running.attempt < running.maxAttempts) {
      const retryInMs = Math.min(this.settings.retryInitialMs * 2 ** (running.attempt - 1), this.settings.retryMaxMs);
      const requeued = await this.stateMachine.transition({
        from: running,
        to: PENDING,
        reason: `attempt ${running.attempt} failed (${error.code}: ${error.message}); retrying in ${retryInMs} ms`,
        changes: { error, adapter, cost, leaseExpiresAt: null },
      });
      return requeued ? { outcome: later(retryInMs), execution: requeued } : this.settled(running);
    }
    const failed = await this.stateMachine.transition({
      from: running,
      to: FAILED,
      reason: `attempt ${running.attempt} failed (${error.code}: ${error.message})`,
      changes: { error, adapter, cost, finishedAt: new Date(), leaseExpiresAt: null },
      also,
    });
    return failed ? { outcome: DONE, execution: failed } : this.settled(running);
  }

  private async settled(running: Execution): Promise<Attempted> {
    return { outcome: await this.settle(running), execution: null };
  }
}

/** The job of an attempt run at once where it was created (src/jobs/HeldJob.ts). */
export interface HeldJob {
  /** Inside the terminal transition's transaction. */
  finishWithin(manager: EntityManager): Promise<void>;
  /** Once the attempt is over: done, or back in the queue. */
  end(outcome: RunOutcome): Promise<void>;
  /** Renews its lock while the attempt runs. */
  touch(): Promise<void>;
}

/** How an attempt ended: what its job does next, and the execution as the attempt's last transition left it (null: it changed elsewhere). */
interface Attempted {
  outcome: RunOutcome;
  execution: Execution | null;
}

/** The `adapter` an execution records for a failure of an adapter that is only ever one of them. */
const RAN_BY: Record<string, string> = { "zmq-python": "python", "in-process": "in-process" };

/** A held job whose attempt failed unexpectedly runs again after this long (Agenda's first handler retry). */
const HANDLER_RETRY_MS = 1_000;

/** The job kind that runs attempts (src/jobs/JobScheduler.ts EXECUTE_PROGRAM), named in its spans. */
const JOB_NAME = "execute-program";

function failure(code: string, layer: string, message: string, retriable: boolean, details: Record<string, unknown> | null = null): ExecutionError {
  return { code, layer, message, retriable, details };
}
