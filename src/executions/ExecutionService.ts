import type { EntityManager } from "typeorm";
import { programOf } from "../programs/programOf.js";
import { VersionCache } from "../programs/VersionCache.js";
import { Execution, ExecutionEvent, ExecutionStatus, type ProgramVersion } from "../../entities/index.js";
import { contentHash } from "../canonicalJson.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { isUniqueViolation } from "../db/dialect.js";
import { findInScope, requireInScope } from "../db/scoped.js";
import { AppError } from "../errors.js";
import { isId, newId } from "../ids.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import type { ProgramService } from "../programs/ProgramService.js";
import { validateProgramInputs } from "../programs/validateProgramInputs.js";
import type { EventBus } from "../pubsub.js";
import type { Scope } from "../scope.js";
import { IssueList } from "../validation.js";
import { currentTraceparent } from "../observability/tracing.js";
import { listenToExecution } from "./ExecutionEvents.js";
import { ProgramLabelService } from "../programs/ProgramLabels.js";
import { type VersionStats, versionStats } from "./VersionStats.js";
import { type Spend, spend } from "./Spend.js";
import type { BudgetService } from "../budgets/BudgetService.js";
import { type ExecutionStateMachine, type NewExecution, type Started, TERMINAL } from "./ExecutionStateMachine.js";

export interface ExecuteProgram {
  programId: string;
  versionId?: string | null;
  inputs: unknown;
  idempotencyKey?: string | null;
  wait?: boolean | null;
  waitTimeoutMs?: number | null;
  /** A label of the program (its version chosen by the label's routes) instead of `versionId`. */
  label?: string | null;
  routingKey?: string | null;
}

export interface ExecutionSettings {
  /** Attempts per execution before a retriable error becomes FAILED. */
  maxAttempts: number;
  /** Upper bound of `wait`. */
  waitMaxMs: number;
}

/** Where executions are queued (Agenda, in src/jobs/). */
export interface ExecutionQueue {
  enqueue(job: { executionId: string; tenantId: string }): Promise<void>;
  /**
   * The local fast path: a slot of this instance for a new execution (free now, or within a moment of
   * `waitMs`), which is then created RUNNING with a job this instance holds and run at once (null:
   * every slot stayed taken, queue it).
   */
  startHere?(job: { executionId: string; tenantId: string }, maxAttempts: number, waitMs: number): Promise<LocalStart | null>;
}

/** A new execution's start on this instance (JobScheduler.startHere). */
export interface LocalStart {
  /** What the start event says, and the first lease. */
  start: { reason: string; leaseExpiresAt: Date };
  /** Inside the execution's transaction. */
  writeWithin(manager: EntityManager): Promise<void>;
  /** After its commit. */
  afterCommit(): Promise<void>;
  /** Runs the attempt; resolves with the execution as it left it (null: it changed elsewhere). */
  run(running: Execution): Promise<Execution | null>;
  /** The execution was not created after all: the slot is free again. */
  abandon(): void;
}

export interface ExecutionFilter {
  programId?: string | null;
  status?: ExecutionStatus | null;
}

const MAX_IDEMPOTENCY_KEY = 200;

/** What is wrong with a client's idempotency key (executeProgram, executeProgramBatch), or null. */
export function idempotencyKeyProblem(key: string | null | undefined): string | null {
  if (key == null) return null;
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY) return `must be 1 to ${MAX_IDEMPOTENCY_KEY} characters, got ${key.length}`;
  return /\p{Cc}/u.test(key) ? "must not contain control characters" : null;
}
const { PENDING, RUNNING, FAILED, CANCELLED } = ExecutionStatus;
/** What executeProgram records of a new execution (outputs, trace and timings come from the runner, not the caller). */
const AUDITED_ON_CREATE = ["programId", "programVersionId", "languageModelId", "inputs", "status", "maxAttempts", "idempotencyKey"] as const;


/** Queues executions, cancels and retries them, and answers questions about them. */
export class ExecutionService {
  constructor(
    private readonly database: Database,
    private readonly programs: ProgramService,
    private readonly stateMachine: ExecutionStateMachine,
    private readonly queue: ExecutionQueue,
    private readonly events: EventBus,
    private readonly settings: ExecutionSettings,
    /** Refuses a run once a budget that applies to it is spent (BUDGET_EXCEEDED), before anything is written. */
    private readonly budgets?: Pick<BudgetService, "check">,
  ) {}

  get(scope: Scope, id: string): Promise<Execution | null> {
    return findInScope(this.database.manager, Execution, scope, id);
  }

  require(scope: Scope, id: string, path: string): Promise<Execution> {
    return requireInScope(this.database.manager, Execution, scope, id, path, "execution");
  }

  list(scope: Scope, filter: ExecutionFilter, page: PageArgs): Promise<Page<Execution>> {
    const query = this.database.manager.createQueryBuilder(Execution, "e").where("e.tenantId = :tenantId", { tenantId: scope.tenantId });
    if (filter.programId != null) query.andWhere("e.programId = :programId", { programId: isId(filter.programId) ? filter.programId : "" });
    if (filter.status != null) query.andWhere("e.status = :status", { status: filter.status });
    return paginate(query, page);
  }

  /** Per-version figures of a program over the last `windowMinutes` (VersionStats.ts). */
  versionStats(scope: Scope, programId: string, windowMinutes: number): Promise<VersionStats[]> {
    return versionStats(this.database, scope, programId, windowMinutes);
  }

  /** What the tenant's executions finished in [since, until) cost (Spend.ts). */
  spend(scope: Scope, since: Date, until: Date): Promise<Spend> {
    return spend(this.database, scope, since, until);
  }

  /** One transition of an execution, by its number. */
  eventAt(scope: Scope, executionId: string, seq: number): Promise<ExecutionEvent | null> {
    return this.database.manager.findOneBy(ExecutionEvent, { executionId, seq, tenantId: scope.tenantId });
  }

  /** The transition log of one execution, oldest first. */
  eventsOf(scope: Scope, executionId: string): Promise<ExecutionEvent[]> {
    return this.database.manager.find(ExecutionEvent, { where: { executionId, tenantId: scope.tenantId }, order: { seq: "ASC" } });
  }

  /**
   * Validates everything before writing anything, persists the execution as PENDING and queues
   * its job. With an idempotency key already used for the same request, returns that execution.
   */
  async execute(scope: Scope, input: ExecuteProgram): Promise<Execution> {
    const waitMs = this.checkRequest(input);
    const routing = { label: input.label ?? null, routingKey: input.routingKey ?? null };
    const target = await this.runTarget(scope, input.programId, input.versionId, routing);
    const { program, version } = target;
    const inputIssues = validateProgramInputs(programOf(version), input.inputs, "input.inputs");
    if (inputIssues.length > 0) throw AppError.fromIssues(inputIssues);

    // The request as asked (a label, not the version it chose this time), so that a retry with the same key matches.
    const asked = routing.label !== null || routing.routingKey !== null ? routing : {};
    const requestHash = contentHash({ programId: program.id, versionId: input.versionId ?? null, inputs: input.inputs, ...asked });
    const key = input.idempotencyKey ?? null;
    if (key !== null) {
      const existing = await this.byIdempotencyKey(scope, key, requestHash);
      if (existing) return this.maybeWait(existing, waitMs);
    }

    const fields = this.newExecution(scope, target, input.inputs as Record<string, unknown>, requestHash, { idempotencyKey: key, ...routing });
    // A caller who waits wants the result, not a place in the queue: with a free slot here, it starts at once.
    // One who does not gets the execution as queued (PENDING), and the job store dispatches it.
    const waitStart = Date.now();
    const local = waitMs !== null ? ((await this.queue.startHere?.({ executionId: fields.id, tenantId: scope.tenantId }, fields.maxAttempts, waitMs)) ?? null) : null;
    // What is left of the caller's wait after a wait for a slot here.
    const waitLeft = waitMs === null ? null : Math.max(0, waitMs - (Date.now() - waitStart));
    try {
      if (local) return await this.startHere(scope, fields, `queued version ${version.number}`, local, waitLeft ?? 0);
      const created = await this.database.transaction(async (manager) => {
        const result = await this.stateMachine.create(fields, `queued version ${version.number}`, manager);
        await auditCreation(manager, scope, result.execution);
        return result;
      });
      this.stateMachine.publishCreated(created.execution, created.event);
      const queued = await this.enqueue(created.execution);
      return await this.maybeWait(queued, waitLeft);
    } catch (error) {
      // The same key, sent twice at once: the other request created it.
      if (key !== null && isUniqueViolation(error)) {
        const existing = await this.byIdempotencyKey(scope, key, requestHash);
        if (existing) return this.maybeWait(existing, waitMs);
      }
      throw error;
    }
  }

  /**
   * The local fast path: the execution is written already started by this instance, with its job
   * (held by this instance, in the same transaction where the job store is this database), and runs
   * at once; the caller's wait is for that run, with no read of its own.
   */
  private async startHere(scope: Scope, fields: NewExecution, reason: string, local: LocalStart, waitMs: number): Promise<Execution> {
    let started: Started;
    try {
      started = await this.database.transaction(async (manager) => {
        const result = await this.stateMachine.createStarted(fields, reason, local.start, manager);
        await auditCreation(manager, scope, result.pending);
        await local.writeWithin(manager);
        return result;
      });
    } catch (error) {
      local.abandon();
      throw error;
    }
    // The job store unreachable: the run goes on here all the same, and should this instance die before it ends, the reconciler finds it.
    await local.afterCommit().catch(() => undefined);
    this.stateMachine.publishCreated(started.pending, started.queued);
    this.stateMachine.publishStarted(started);
    const deadline = Date.now() + waitMs;
    const run = local.run(started.running).catch(() => null);
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([run, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), waitMs)))]).finally(() => clearTimeout(timer));
    if (finished && TERMINAL.includes(finished.status)) return finished;
    // Still running when the wait ran out: as it is now. Changed elsewhere (cancelled), or failed and queued for a retry: wait on as for any execution.
    if (finished === undefined) return this.require(scope, fields.id, "input");
    return this.maybeWait(finished ?? (await this.require(scope, fields.id, "input")), Math.max(0, deadline - Date.now()));
  }

  /**
   * PENDING or RUNNING → CANCELLED. A running attempt's result is discarded when it arrives. `audited`
   * false: part of a change audited as a whole (cancelBatch records one event for the batch).
   */
  async cancel(scope: Scope, id: string, reason = "cancelled by request", audited = true): Promise<Execution> {
    for (;;) {
      const current = await this.require(scope, id, "id");
      if (current.status !== PENDING && current.status !== RUNNING) {
        throw new AppError("ILLEGAL_TRANSITION", `id: execution '${id}' is ${current.status}; only PENDING or RUNNING executions can be cancelled`, { path: "id" });
      }
      const cancelled = await this.stateMachine.transition({
        from: current,
        to: CANCELLED,
        reason,
        changes: { finishedAt: new Date() },
        ...(audited ? { audit: { scope, action: "execution.cancel" } } : {}),
      });
      if (cancelled) return cancelled;
      // It changed under us (it started, or finished): look again.
    }
  }

  /** The program, the version to run and its language model, as `execute` checks them (for batches too). */
  async runTarget(
    scope: Scope,
    programId: string,
    versionId: string | null | undefined,
    routing: { label: string | null; routingKey: string | null } = { label: null, routingKey: null },
  ): Promise<{ program: { id: string; languageModelId: string }; version: ProgramVersion }> {
    const program = await this.programs.forExecution(scope, programId, "input.programId");
    if (program.languageModelId) await this.budgets?.check(scope.tenantId, program.languageModelId, "input.programId");
    const chosen = routing.label !== null ? await this.programs.labels.route(scope, program, routing.label, routing.routingKey) : null;
    const version = await this.versionToRun(scope, program.id, chosen ?? versionId ?? program.currentVersionId);
    if (!program.languageModelId) {
      throw AppError.badInput("input.programId", "the program has no language model; set one with updateProgram(languageModelId)");
    }
    return { program: { id: program.id, languageModelId: program.languageModelId }, version };
  }

  /** The fields of a new execution of `version` (queued by the caller). */
  newExecution(scope: Scope, target: { program: { id: string; languageModelId: string }; version: ProgramVersion }, inputs: Record<string, unknown>, requestHash: string, extra: { idempotencyKey?: string | null; batchId?: string | null; label?: string | null; routingKey?: string | null } = {}): NewExecution {
    const now = new Date();
    return {
      id: newId(),
      tenantId: scope.tenantId,
      programId: target.program.id,
      programVersionId: target.version.id,
      languageModelId: target.program.languageModelId,
      batchId: extra.batchId ?? null,
      label: extra.label ?? null,
      routingKey: extra.routingKey ?? null,
      inputs,
      outputs: null,
      error: null,
      trace: null,
      usage: null,
      cost: null,
      adapter: null,
      attempt: 0,
      maxAttempts: this.settings.maxAttempts,
      idempotencyKey: extra.idempotencyKey ?? null,
      requestHash,
      queuedAt: now,
      startedAt: null,
      finishedAt: null,
      leaseExpiresAt: null,
      // Every attempt's job continues the trace of this request (undefined when tracing is off).
      traceparent: currentTraceparent() ?? null,
    } satisfies NewExecution;
  }

  /** Queues the jobs of executions just created (a failure to queue one fails that one, as for `execute`). */
  async enqueueAll(executions: Execution[], concurrency = 16): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < executions.length) await this.enqueue(executions[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, executions.length) }, lane));
  }

  /** FAILED → PENDING with a fresh budget of attempts, and a new job. */
  async retry(scope: Scope, id: string): Promise<Execution> {
    const current = await this.require(scope, id, "id");
    if (current.status !== FAILED) {
      throw new AppError("ILLEGAL_TRANSITION", `id: execution '${id}' is ${current.status}; only FAILED executions can be retried`, { path: "id" });
    }
    const retried = await this.stateMachine.transition({
      from: current,
      to: PENDING,
      reason: "retry requested",
      changes: { maxAttempts: current.attempt + this.settings.maxAttempts, error: null, finishedAt: null },
      audit: { scope, action: "execution.retry" },
    });
    if (!retried) throw AppError.conflict(`id: execution '${id}' was changed concurrently; reload and retry`, "id");
    return this.enqueue(retried);
  }

  private async enqueue(execution: Execution): Promise<Execution> {
    try {
      await this.queue.enqueue({ executionId: execution.id, tenantId: execution.tenantId });
      return execution;
    } catch (cause) {
      // Nothing would ever run it: say so on the execution, where retryExecution can pick it up.
      const message = "the job could not be queued; retry the execution once the job store is reachable";
      const failed = await this.stateMachine.transition({
        from: execution,
        to: FAILED,
        reason: message,
        changes: { error: { code: "ENQUEUE_FAILED", layer: "scheduler", message, retriable: true, details: { cause: String(cause) } }, finishedAt: new Date() },
      });
      return failed ?? execution;
    }
  }

  /** Resolves with the execution once it is terminal, or as it is when `waitMs` has passed. */
  private async maybeWait(execution: Execution, waitMs: number | null): Promise<Execution> {
    if (waitMs === null || TERMINAL.includes(execution.status)) return execution;
    const scope = { tenantId: execution.tenantId };
    const updates = listenToExecution(this.events, execution.id);
    const deadline = Date.now() + waitMs;
    try {
      // Subscribed first, then re-read: a transition between the two is seen by one or the other.
      const now = await this.require(scope, execution.id, "input");
      if (TERMINAL.includes(now.status)) return now;
      const terminal = new Promise<Execution>((resolve) => {
        void (async () => {
          for await (const update of updates) {
            if (update.execution.id === execution.id && TERMINAL.includes(update.execution.status)) return resolve(update.execution);
          }
        })();
      });
      // The job may run on another instance whose events this one does not see: look now and then.
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) return await this.require(scope, execution.id, "input");
        const found = await Promise.race([terminal, sleep(Math.min(left, 1_000)).then(() => null)]);
        if (found) return found;
        const polled = await this.require(scope, execution.id, "input");
        if (TERMINAL.includes(polled.status)) return polled;
      }
    } finally {
      await updates.return?.();
    }
  }

  private async byIdempotencyKey(scope: Scope, key: string, requestHash: string): Promise<Execution | null> {
    const existing = await this.database.manager.findOneBy(Execution, { tenantId: scope.tenantId, idempotencyKey: key });
    if (existing && existing.requestHash !== requestHash) {
      throw AppError.conflict("input.idempotencyKey: this key was already used for a different request (program, version or inputs differ)", "input.idempotencyKey");
    }
    return existing;
  }

  /** `execute` has just read the program: its versions are there (VersionCache). */
  private readonly versions = new VersionCache();

  private async versionToRun(scope: Scope, programId: string, versionId: string | null): Promise<ProgramVersion> {
    const version = versionId ? await this.versions.get(scope.tenantId, versionId, () => this.programs.getVersion(scope, versionId)) : null;
    if (!version || version.programId !== programId) {
      throw new AppError("NOT_FOUND", `input.versionId: version '${versionId}' of program '${programId}' not found`, { path: "input.versionId" });
    }
    return version;
  }

  /** Everything about the request that needs no database; returns how long to wait (null: don't). */
  private checkRequest(input: ExecuteProgram): number | null {
    const issues = new IssueList();
    const keyProblem = idempotencyKeyProblem(input.idempotencyKey);
    if (keyProblem) issues.add("input.idempotencyKey", keyProblem);
    ProgramLabelService.requestIssues(issues, input);
    const timeout = input.waitTimeoutMs;
    if (timeout != null && (!Number.isInteger(timeout) || timeout < 1 || timeout > this.settings.waitMaxMs)) {
      issues.add("input.waitTimeoutMs", `must be an integer between 1 and ${this.settings.waitMaxMs}, got ${timeout}`);
    }
    if (timeout != null && !input.wait) issues.add("input.waitTimeoutMs", "is only meaningful with wait: true");
    if (!issues.empty) throw AppError.fromIssues(issues.issues);
    return input.wait ? (timeout ?? this.settings.waitMaxMs) : null;
  }
}

async function auditCreation(manager: EntityManager, scope: Scope, execution: Execution): Promise<void> {
  await AuditLog.record(manager, scope, { action: "execution.create", entityType: "Execution", entityId: execution.id, after: AuditLog.snapshot(execution, AUDITED_ON_CREATE) });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
