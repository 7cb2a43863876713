import { EventEmitter } from "node:events";
import { CronExpressionParser } from "cron-parser";
import { ExecutionStatus, Optimization, OptimizationSchedule, ProgramVersion, SchedulePromotion } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { row, updateAtVersion } from "../db/rows.js";
import { findInScope } from "../db/scoped.js";
import { AppError } from "../errors.js";
import { isId, newId } from "../ids.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import type { ProgramService } from "../programs/ProgramService.js";
import { type EventBus, listen } from "../pubsub.js";
import { type Scope, SYSTEM_ACTOR } from "../scope.js";
import { OPTIMIZATION_UPDATED, type OptimizationUpdate } from "./OptimizationEvents.js";
import type { OptimizeProgram, OptimizationService } from "./OptimizationService.js";

export interface ScheduleOptimization extends Omit<OptimizeProgram, "versionId"> {
  cron: string;
  timezone?: string | null;
  promote?: SchedulePromotion | null;
}

/** Where schedules' recurring jobs live (Agenda's `scheduled-optimization`, one per schedule). */
export interface ScheduleQueue {
  scheduleRecurring(data: { scheduleId: string; tenantId: string }, cron: string, timezone: string | null): Promise<void>;
  unscheduleRecurring(data: { scheduleId: string; tenantId: string }): Promise<void>;
}

const AUDITED = ["programId", "cron", "timezone", "optimizer", "config", "datasetId", "trainSplit", "devSplit", "metric", "reflectionLanguageModelId", "seed", "promote", "enabled"] as const;
const { PENDING, RUNNING, COMPLETED } = ExecutionStatus;

/** What the schedules tell their observers (src/observability logs them). */
export interface ScheduleEvents {
  /** A firing found the schedule's previous optimization unfinished and queued nothing. */
  "firing-skipped": [{ scheduleId: string; optimizationId: string; status: string }];
  /** A firing's optimization no longer passed its checks (the program or dataset changed); not retried. */
  "firing-refused": [{ scheduleId: string; error: unknown }];
  "promotion-failed": [{ optimizationId: string; error: unknown }];
}

/**
 * Recurring optimizations: each firing optimizes the program's current version through
 * OptimizationService (all its checks, as the system actor), and once that optimization is
 * COMPLETED its version is promoted by the schedule's policy.
 */
export class OptimizationScheduleService extends EventEmitter<ScheduleEvents> {
  private readonly updates: AsyncIterableIterator<OptimizationUpdate>;

  constructor(
    private readonly database: Database,
    private readonly programs: ProgramService,
    private readonly optimizations: OptimizationService,
    private readonly queue: ScheduleQueue,
    events: EventBus,
  ) {
    super();
    this.updates = listen<OptimizationUpdate>(events, OPTIMIZATION_UPDATED);
    void this.watchCompletions();
  }

  async close(): Promise<void> {
    await this.updates.return?.();
  }

  get(scope: Scope, id: string): Promise<OptimizationSchedule | null> {
    return findInScope(this.database.manager, OptimizationSchedule, scope, id);
  }

  list(scope: Scope, programId: string | null | undefined, page: PageArgs): Promise<Page<OptimizationSchedule>> {
    const query = this.database.manager.createQueryBuilder(OptimizationSchedule, "s").where("s.tenantId = :tenantId", { tenantId: scope.tenantId });
    if (programId != null) query.andWhere("s.programId = :programId", { programId: isId(programId) ? programId : "" });
    return paginate(query, page);
  }

  /** Checks the cron expression and the optimization (as optimizeProgram would), then persists the schedule (audited) and its recurring job. */
  async schedule(scope: Scope, input: ScheduleOptimization): Promise<OptimizationSchedule> {
    const timezone = input.timezone ?? null;
    try {
      CronExpressionParser.parse(input.cron, { tz: timezone ?? "UTC", strict: false });
    } catch (error) {
      throw AppError.badInput("input.cron", `is not a valid cron expression: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (timezone !== null && !isTimeZone(timezone)) throw AppError.badInput("input.timezone", `'${timezone}' is not an IANA time zone`);
    const prepared = await this.optimizations.prepare(scope, { ...input, versionId: null });
    const fields = {
      id: newId(),
      tenantId: scope.tenantId,
      programId: prepared.programId,
      cron: input.cron,
      timezone,
      optimizer: prepared.optimizer,
      config: prepared.config,
      datasetId: prepared.datasetId,
      trainSplit: prepared.trainSplit,
      devSplit: prepared.devSplit,
      metric: prepared.metric,
      reflectionLanguageModelId: prepared.reflectionLanguageModelId,
      seed: prepared.seed,
      promote: input.promote ?? SchedulePromotion.IF_BETTER,
      enabled: true,
      lastRunAt: null,
      lastOptimizationId: null,
    };
    const created = await this.database.transaction(async (manager) => {
      await manager.insert(OptimizationSchedule, row<OptimizationSchedule>(fields));
      const stored = await manager.findOneByOrFail(OptimizationSchedule, { id: fields.id });
      await AuditLog.record(manager, scope, { action: "optimization_schedule.create", entityType: "OptimizationSchedule", entityId: stored.id, after: AuditLog.snapshot(stored, AUDITED) });
      return stored;
    });
    try {
      await this.queue.scheduleRecurring({ scheduleId: created.id, tenantId: created.tenantId }, created.cron, created.timezone);
    } catch (cause) {
      await this.database.manager.delete(OptimizationSchedule, { id: created.id });
      throw new AppError("ENQUEUE_FAILED", `the schedule could not be saved in the job store; schedule again once it is reachable (${String(cause)})`, { layer: "scheduler", retriable: true });
    }
    return created;
  }

  /** Disables a schedule and removes its recurring job (optimizations it queued are left as they are). */
  async unschedule(scope: Scope, id: string): Promise<OptimizationSchedule> {
    const current = await this.get(scope, id);
    if (!current) throw new AppError("NOT_FOUND", `id: optimization schedule '${id}' not found`, { path: "id" });
    if (!current.enabled) throw AppError.conflict(`id: optimization schedule '${id}' is already unscheduled`, "id");
    const stored = await this.database.transaction(async (manager) => {
      if (!(await updateAtVersion(manager, OptimizationSchedule, current.id, current.version, { enabled: false }))) throw AppError.conflict(`optimization schedule '${id}' was changed concurrently; reload and retry`, "id");
      const after = await manager.findOneByOrFail(OptimizationSchedule, { id: current.id });
      await AuditLog.record(manager, scope, { action: "optimization_schedule.delete", entityType: "OptimizationSchedule", entityId: current.id, before: AuditLog.snapshot(current, AUDITED), after: AuditLog.snapshot(after, AUDITED) });
      return after;
    });
    await this.queue.unscheduleRecurring({ scheduleId: current.id, tenantId: current.tenantId });
    return stored;
  }

  /** One firing: queues an optimization of the current version, unless the schedule's previous one is still unfinished. */
  async runScheduled(scheduleId: string, tenantId: string): Promise<void> {
    const schedule = await this.database.manager.findOneBy(OptimizationSchedule, { id: scheduleId, tenantId });
    if (!schedule || !schedule.enabled) return;
    if (schedule.lastOptimizationId) {
      const previous = await this.database.manager.findOneBy(Optimization, { id: schedule.lastOptimizationId, tenantId });
      if (previous && (previous.status === PENDING || previous.status === RUNNING)) {
        this.emit("firing-skipped", { scheduleId, optimizationId: previous.id, status: previous.status });
        return;
      }
    }
    const scope: Scope = { tenantId, actor: SYSTEM_ACTOR };
    let optimization: Optimization;
    try {
      optimization = await this.optimizations.optimize(scope, {
        programId: schedule.programId,
        optimizer: schedule.optimizer,
        config: schedule.config,
        datasetId: schedule.datasetId,
        trainSplit: schedule.trainSplit,
        devSplit: schedule.devSplit,
        metric: schedule.metric as unknown as OptimizeProgram["metric"],
        reflectionLanguageModelId: schedule.reflectionLanguageModelId,
        seed: schedule.seed,
      });
    } catch (error) {
      // The program or dataset changed so that the optimization no longer passes its checks: not retried.
      this.emit("firing-refused", { scheduleId, error });
      await this.database.manager.update(OptimizationSchedule, { id: schedule.id }, { lastRunAt: new Date() });
      return;
    }
    await this.database.manager.update(OptimizationSchedule, { id: schedule.id }, { lastRunAt: new Date(), lastOptimizationId: optimization.id });
  }

  private async watchCompletions(): Promise<void> {
    for await (const update of this.updates) {
      if (update.kind !== "transition" || update.optimization.status !== COMPLETED) continue;
      await this.promoteIfScheduled(update.optimization).catch((error: unknown) => this.emit("promotion-failed", { optimizationId: update.optimization.id, error }));
    }
  }

  /** The schedule's policy for a COMPLETED optimization it queued: ALWAYS, IF_BETTER (a current version without a score is beaten), NEVER. */
  private async promoteIfScheduled(optimization: Optimization): Promise<void> {
    const schedule = await this.database.manager.findOneBy(OptimizationSchedule, { tenantId: optimization.tenantId, lastOptimizationId: optimization.id });
    if (!schedule || !optimization.resultVersionId || schedule.promote === SchedulePromotion.NEVER) return;
    const scope: Scope = { tenantId: optimization.tenantId, actor: SYSTEM_ACTOR };
    if (schedule.promote === SchedulePromotion.IF_BETTER) {
      const program = await this.programs.get(scope, optimization.programId);
      if (!program) return;
      const current = program.currentVersionId ? await this.database.manager.findOneBy(ProgramVersion, { id: program.currentVersionId, tenantId: scope.tenantId }) : null;
      const currentScore = current?.score ?? null;
      if (currentScore !== null && !(optimization.score !== null && optimization.score > currentScore)) return;
    }
    await this.programs.promoteVersion(scope, optimization.resultVersionId);
  }
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
