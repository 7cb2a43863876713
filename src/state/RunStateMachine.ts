import { EventEmitter } from "node:events";
import type { EntityManager, ObjectLiteral } from "typeorm";
import { ExecutionStatus } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { row } from "../db/rows.js";
import { AppError } from "../errors.js";
import type { Scope } from "../scope.js";
import { isLegal, type LegalTransitions, updateIfUnchanged } from "./guardedTransition.js";

const { PENDING, RUNNING, COMPLETED, FAILED, CANCELLED } = ExecutionStatus;

/**
 * Every legal transition of a run-once job (an evaluation, an optimization). COMPLETED, FAILED and
 * CANCELLED are final; RUNNING → PENDING is an attempt interrupted by its instance stopping, run again.
 */
const LEGAL: LegalTransitions<ExecutionStatus> = {
  [PENDING]: [RUNNING, CANCELLED, FAILED],
  [RUNNING]: [COMPLETED, FAILED, CANCELLED, PENDING],
  [FAILED]: [],
  [COMPLETED]: [],
  [CANCELLED]: [],
};

export const RUN_TERMINAL: readonly ExecutionStatus[] = [COMPLETED, FAILED, CANCELLED];

export function isLegalRunTransition(from: ExecutionStatus, to: ExecutionStatus): boolean {
  return isLegal(LEGAL, from, to);
}

/** The columns the mechanism relies on. */
export interface RunRow extends ObjectLiteral {
  id: string;
  version: number;
  status: ExecutionStatus;
  createdAt: Date;
  updatedAt: Date;
  leaseExpiresAt: Date | null;
}

export interface RunTransition<E, C extends Partial<E>> {
  from: E;
  to: ExecutionStatus;
  changes?: C;
  /** A transition a user asked for (cancel): recorded in the audit trail in its transaction. */
  audit?: { scope: Scope; action: string };
  /** Writes that belong with the transition (an optimization's new program version), in its transaction, once its guard held. */
  also?: (manager: EntityManager) => Promise<void>;
}

/**
 * The only way an evaluation's or optimization's status changes: the execution state machine's
 * mechanism (src/state/guardedTransition.ts: a legal table and an update guarded by status and
 * version), without a transition log; every change is published after its commit.
 */
/** A transition this instance made (local, unlike the bus): what observability listens to. */
export interface RunTransitionEvent<E> {
  /** As the audit trail names the kind of run, e.g. "Evaluation". */
  entityType: string;
  /** Its status before; null at creation. */
  from: string | null;
  row: E;
}

export class RunStateMachine<E extends RunRow, C extends Partial<E>> extends EventEmitter<{ transition: [RunTransitionEvent<E>] }> {
  constructor(
    private readonly database: Database,
    private readonly entity: new () => E,
    /** As the audit trail names it, e.g. "Evaluation". */
    readonly entityType: string,
    private readonly publish: (row: E, kind: "transition" | "progress") => void,
  ) {
    super();
  }

  async create(fields: Omit<E, "createdAt" | "updatedAt" | "version" | "status" | "assignId">, manager: EntityManager): Promise<E> {
    const now = new Date();
    const created = Object.assign(new this.entity(), fields, { status: PENDING, version: 1, createdAt: now, updatedAt: now });
    await manager.insert(this.entity, row<E>(created));
    return created;
  }

  publishCreated(created: E): void {
    this.publish(created, "transition");
    this.emit("transition", { entityType: this.entityType, from: null, row: created });
  }

  /** Applies the transition, or returns null when the row changed since the caller saw it. */
  async transition(request: RunTransition<E, C>): Promise<E | null> {
    const { from, to } = request;
    if (!isLegalRunTransition(from.status, to)) {
      throw new AppError("ILLEGAL_TRANSITION", `${this.entityType.toLowerCase()} '${from.id}' is ${from.status}; it cannot become ${to}`, { layer: "validation" });
    }
    const changes = { ...request.changes, status: to, updatedAt: new Date() } as Partial<E>;
    const applied = await this.database.transaction(async (manager) => {
      if (!(await updateIfUnchanged(manager, this.entity, from, changes))) return null;
      await request.also?.(manager);
      const after = Object.assign(new this.entity(), from, changes, { version: from.version + 1 });
      if (request.audit) {
        const fields = ["status", ...Object.keys(request.changes ?? {})];
        await AuditLog.record(manager, request.audit.scope, {
          action: request.audit.action,
          entityType: this.entityType,
          entityId: from.id,
          before: AuditLog.snapshot(from, fields),
          after: AuditLog.snapshot(after, fields),
        });
      }
      return after;
    });
    if (applied) {
      this.publish(applied, "transition");
      this.emit("transition", { entityType: this.entityType, from: from.status, row: applied });
    }
    return applied;
  }

  /**
   * Records progress of a RUNNING row without a transition (the version stays, so it never makes a
   * transition lose its race). False when it is no longer RUNNING at that version: cancelled,
   * possibly by another instance.
   */
  async recordProgress(running: E, update: C): Promise<boolean> {
    // In a transaction like every write: on SQLite's one connection a bare write would join
    // whichever transaction happens to be open.
    const result = await this.database.transaction((manager) =>
      manager
        .createQueryBuilder()
        .update(this.entity)
        // Naming the version column keeps TypeORM from advancing it.
        .set(row<E>({ ...update, version: running.version }))
        .where("id = :id AND version = :version AND status = :status", { id: running.id, version: running.version, status: RUNNING })
        .execute(),
    );
    if (result.affected !== 1) return false;
    this.publish(Object.assign(new this.entity(), running, update), "progress");
    return true;
  }

  /**
   * Extends the lease of the attempt `running` is (src/state/lease.ts), if the row is still that
   * attempt's: RUNNING at its version. Nothing is published; the version stays. False when lost.
   */
  async renewLease(running: E, until: Date): Promise<boolean> {
    const result = await this.database.transaction((manager) =>
      manager
        .createQueryBuilder()
        .update(this.entity)
        .set(row<E>({ leaseExpiresAt: until, version: running.version } as unknown as Partial<E>))
        .where("id = :id AND version = :version AND status = :status", { id: running.id, version: running.version, status: RUNNING })
        .execute(),
    );
    return result.affected === 1;
  }
}
