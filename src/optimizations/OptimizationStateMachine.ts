import type { EntityManager } from "typeorm";
import { Optimization, ExecutionStatus } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { row } from "../db/rows.js";
import { AppError } from "../errors.js";
import type { EventBus } from "../pubsub.js";
import type { Scope } from "../scope.js";
import { isLegal, type LegalTransitions, updateIfUnchanged } from "../state/guardedTransition.js";
import { publishOptimizationUpdate } from "./OptimizationEvents.js";

const { PENDING, RUNNING, COMPLETED, FAILED, CANCELLED } = ExecutionStatus;

/**
 * Every legal transition of an optimization (ExecutionStatus values). COMPLETED, FAILED and CANCELLED
 * are final; RUNNING → PENDING is an attempt interrupted by its instance stopping, run again.
 */
const LEGAL: LegalTransitions<ExecutionStatus> = {
  [PENDING]: [RUNNING, CANCELLED, FAILED],
  [RUNNING]: [COMPLETED, FAILED, CANCELLED, PENDING],
  [FAILED]: [],
  [COMPLETED]: [],
  [CANCELLED]: [],
};

export const OPTIMIZATION_TERMINAL: readonly ExecutionStatus[] = [COMPLETED, FAILED, CANCELLED];

export function isLegalOptimizationTransition(from: ExecutionStatus, to: ExecutionStatus): boolean {
  return isLegal(LEGAL, from, to);
}

export type OptimizationChanges = Partial<Pick<Optimization, "score" | "resultVersionId" | "error" | "phase" | "metricCalls" | "trials" | "bestScore" | "startedAt" | "finishedAt">>;

export interface OptimizationProgressUpdate {
  phase: string;
  metricCalls: number;
  trials: number;
  bestScore: number | null;
}

export type NewOptimization = Omit<Optimization, "createdAt" | "updatedAt" | "version" | "status" | "assignId">;

export interface OptimizationTransition {
  from: Optimization;
  to: ExecutionStatus;
  changes?: OptimizationChanges;
  /** A transition a user asked for (cancel): recorded in the audit trail in its transaction. */
  audit?: { scope: Scope; action: string };
  /** Writes that belong with the transition (COMPLETED's new program version), in its transaction, once its guard held. */
  also?: (manager: EntityManager) => Promise<void>;
}

/**
 * The only way an optimization's status changes: the execution state machine's mechanism
 * (src/state/guardedTransition.ts: a legal table and an update guarded by status and version),
 * without a transition log; every change is published after its commit.
 */
export class OptimizationStateMachine {
  constructor(
    private readonly database: Database,
    private readonly events: EventBus,
  ) {}

  async create(fields: NewOptimization, manager: EntityManager): Promise<Optimization> {
    const now = new Date();
    const optimization = Object.assign(new Optimization(), fields, { status: PENDING, version: 1, createdAt: now, updatedAt: now });
    await manager.insert(Optimization, row<Optimization>(optimization));
    return optimization;
  }

  publishCreated(optimization: Optimization): void {
    publishOptimizationUpdate(this.events, optimization, "transition");
  }

  /** Applies the transition, or returns null when the optimization changed since the caller saw it. */
  async transition(request: OptimizationTransition): Promise<Optimization | null> {
    const { from, to } = request;
    if (!isLegalOptimizationTransition(from.status, to)) {
      throw new AppError("ILLEGAL_TRANSITION", `optimization '${from.id}' is ${from.status}; it cannot become ${to}`, { layer: "validation" });
    }
    const changes: Partial<Optimization> = { ...request.changes, status: to, updatedAt: new Date() };
    const applied = await this.database.transaction(async (manager) => {
      if (!(await updateIfUnchanged(manager, Optimization, from, changes))) return null;
      await request.also?.(manager);
      const after = Object.assign(new Optimization(), from, changes, { version: from.version + 1 });
      if (request.audit) {
        const fields = ["status", ...Object.keys(request.changes ?? {})];
        await AuditLog.record(manager, request.audit.scope, {
          action: request.audit.action,
          entityType: "Optimization",
          entityId: from.id,
          before: AuditLog.snapshot(from, fields),
          after: AuditLog.snapshot(after, fields),
        });
      }
      return after;
    });
    if (applied) publishOptimizationUpdate(this.events, applied, "transition");
    return applied;
  }

  /**
   * Records progress of a RUNNING optimization without a transition (the version stays, so it never
   * makes a transition lose its race). False when it is no longer RUNNING at that version: cancelled,
   * possibly by another instance.
   */
  async progress(running: Optimization, update: OptimizationProgressUpdate): Promise<boolean> {
    const result = await this.database.manager
      .createQueryBuilder()
      .update(Optimization)
      // Naming the version column keeps TypeORM from advancing it.
      .set(row<Optimization>({ ...update, version: running.version }))
      .where("id = :id AND version = :version AND status = :status", { id: running.id, version: running.version, status: RUNNING })
      .execute();
    if (result.affected !== 1) return false;
    publishOptimizationUpdate(this.events, Object.assign(new Optimization(), running, update), "progress");
    return true;
  }
}
