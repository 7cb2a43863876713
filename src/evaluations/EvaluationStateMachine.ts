import type { EntityManager } from "typeorm";
import { Evaluation, ExecutionStatus } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { row } from "../db/rows.js";
import { AppError } from "../errors.js";
import type { EventBus } from "../pubsub.js";
import type { Scope } from "../scope.js";
import { isLegal, type LegalTransitions, updateIfUnchanged } from "../state/guardedTransition.js";
import { publishEvaluationUpdate } from "./EvaluationEvents.js";

const { PENDING, RUNNING, COMPLETED, FAILED, CANCELLED } = ExecutionStatus;

/**
 * Every legal transition of an evaluation (ExecutionStatus values). COMPLETED, FAILED and CANCELLED
 * are final; RUNNING → PENDING is an attempt interrupted by its instance stopping, run again.
 */
const LEGAL: LegalTransitions<ExecutionStatus> = {
  [PENDING]: [RUNNING, CANCELLED, FAILED],
  [RUNNING]: [COMPLETED, FAILED, CANCELLED, PENDING],
  [FAILED]: [],
  [COMPLETED]: [],
  [CANCELLED]: [],
};

export const EVALUATION_TERMINAL: readonly ExecutionStatus[] = [COMPLETED, FAILED, CANCELLED];

export function isLegalEvaluationTransition(from: ExecutionStatus, to: ExecutionStatus): boolean {
  return isLegal(LEGAL, from, to);
}

export type EvaluationChanges = Partial<Pick<Evaluation, "score" | "results" | "error" | "progressDone" | "progressTotal" | "startedAt" | "finishedAt">>;

export type NewEvaluation = Omit<Evaluation, "createdAt" | "updatedAt" | "version" | "status" | "assignId">;

export interface EvaluationTransition {
  from: Evaluation;
  to: ExecutionStatus;
  changes?: EvaluationChanges;
  /** A transition a user asked for (cancel): recorded in the audit trail in its transaction. */
  audit?: { scope: Scope; action: string };
}

/**
 * The only way an evaluation's status changes: the execution state machine's mechanism
 * (src/state/guardedTransition.ts: a legal table and an update guarded by status and version),
 * without a transition log; every change is published after its commit.
 */
export class EvaluationStateMachine {
  constructor(
    private readonly database: Database,
    private readonly events: EventBus,
  ) {}

  async create(fields: NewEvaluation, manager: EntityManager): Promise<Evaluation> {
    const now = new Date();
    const evaluation = Object.assign(new Evaluation(), fields, { status: PENDING, version: 1, createdAt: now, updatedAt: now });
    await manager.insert(Evaluation, row<Evaluation>(evaluation));
    return evaluation;
  }

  publishCreated(evaluation: Evaluation): void {
    publishEvaluationUpdate(this.events, evaluation, "transition");
  }

  /** Applies the transition, or returns null when the evaluation changed since the caller saw it. */
  async transition(request: EvaluationTransition): Promise<Evaluation | null> {
    const { from, to } = request;
    if (!isLegalEvaluationTransition(from.status, to)) {
      throw new AppError("ILLEGAL_TRANSITION", `evaluation '${from.id}' is ${from.status}; it cannot become ${to}`, { layer: "validation" });
    }
    const changes: Partial<Evaluation> = { ...request.changes, status: to, updatedAt: new Date() };
    const applied = await this.database.transaction(async (manager) => {
      if (!(await updateIfUnchanged(manager, Evaluation, from, changes))) return null;
      const after = Object.assign(new Evaluation(), from, changes, { version: from.version + 1 });
      if (request.audit) {
        const fields = ["status", ...Object.keys(request.changes ?? {})];
        await AuditLog.record(manager, request.audit.scope, {
          action: request.audit.action,
          entityType: "Evaluation",
          entityId: from.id,
          before: AuditLog.snapshot(from, fields),
          after: AuditLog.snapshot(after, fields),
        });
      }
      return after;
    });
    if (applied) publishEvaluationUpdate(this.events, applied, "transition");
    return applied;
  }

  /**
   * Records progress of a RUNNING evaluation without a transition (the version stays, so it never
   * makes a transition lose its race). False when it is no longer RUNNING at that version: cancelled,
   * possibly by another instance.
   */
  async progress(running: Evaluation, done: number, total: number | null): Promise<boolean> {
    const result = await this.database.manager
      .createQueryBuilder()
      .update(Evaluation)
      // Naming the version column keeps TypeORM from advancing it.
      .set(row<Evaluation>({ progressDone: done, progressTotal: total, version: running.version }))
      .where("id = :id AND version = :version AND status = :status", { id: running.id, version: running.version, status: RUNNING })
      .execute();
    if (result.affected !== 1) return false;
    publishEvaluationUpdate(this.events, Object.assign(new Evaluation(), running, { progressDone: done, progressTotal: total }), "progress");
    return true;
  }
}
