import { EventEmitter } from "node:events";
import type { EntityManager } from "typeorm";
import { Execution, ExecutionEvent, ExecutionStatus } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { insertRow, insertRows } from "../db/rows.js";
import { AppError } from "../errors.js";
import { newId } from "../ids.js";
import { publishExecutionUpdate } from "./ExecutionEvents.js";
import type { EventBus } from "../pubsub.js";
import type { Scope } from "../scope.js";
import { isLegal, type LegalTransitions, updateIfUnchanged } from "../state/guardedTransition.js";

const { PENDING, RUNNING, COMPLETED, FAILED, CANCELLED } = ExecutionStatus;

/** Every legal transition. COMPLETED and CANCELLED are final; FAILED may be retried. */
const LEGAL: LegalTransitions<ExecutionStatus> = {
  [PENDING]: [RUNNING, CANCELLED, FAILED],
  [RUNNING]: [COMPLETED, FAILED, CANCELLED, PENDING],
  [FAILED]: [PENDING],
  [COMPLETED]: [],
  [CANCELLED]: [],
};

export const TERMINAL: readonly ExecutionStatus[] = [COMPLETED, FAILED, CANCELLED];

export function isLegalTransition(from: ExecutionStatus, to: ExecutionStatus): boolean {
  return isLegal(LEGAL, from, to);
}

/** What a transition may change besides the status. */
export type TransitionChanges = Partial<Pick<Execution, "outputs" | "error" | "trace" | "usage" | "cost" | "adapter" | "attempt" | "maxAttempts" | "startedAt" | "finishedAt" | "leaseExpiresAt">>;

/** Every column of a new execution except those the database and the state machine fill in. */
export type NewExecution = Omit<Execution, "createdAt" | "updatedAt" | "version" | "transitions" | "status" | "assignId">;

export interface TransitionRequest {
  /** The execution as the caller last saw it: the transition applies only if it is still exactly that. */
  from: Execution;
  to: ExecutionStatus;
  reason: string;
  changes?: TransitionChanges;
  /**
   * Set for a transition a user asked for (cancel, retry): it is recorded in the audit trail, in the
   * transition's transaction. The job runner's own transitions leave it out: execution_event has them.
   */
  audit?: { scope: Scope; action: string };
  /** Writes that belong with the transition (a held job's end), in its transaction, once its guard held. */
  also?: (manager: EntityManager) => Promise<void>;
}

/**
 * A transition this instance made, after its commit (the bus carries every instance's; this only
 * this process's, so the metrics and logs of src/observability count each transition once).
 * `previous` is the execution as it was before (null at creation).
 */
export interface ExecutionTransition {
  previous: Execution | null;
  execution: Execution;
  event: ExecutionEvent;
}

/**
 * The only way an execution's status changes. A transition must be legal from the status the caller
 * saw, and is applied only if the row is still at the version the caller saw (so of two racing
 * transitions exactly one wins); the status change and its event are written in one transaction,
 * and the new state is published after the commit.
 */
export class ExecutionStateMachine extends EventEmitter<{ transition: [ExecutionTransition] }> {
  constructor(
    private readonly database: Database,
    private readonly events: EventBus,
  ) {
    super();
  }

  /** Creates the execution in PENDING with its first event (inside the caller's transaction). */
  async create(fields: NewExecution, reason: string, manager: EntityManager): Promise<{ execution: Execution; event: ExecutionEvent }> {
    const { execution, event } = queuedOf(fields, reason);
    await insertRow(manager, Execution, execution);
    await insertRow(manager, ExecutionEvent, event);
    return { execution, event };
  }

  /** Creates many PENDING executions in the caller's transaction (a batch), in multi-row inserts; publish each with publishCreated. */
  async createMany(all: NewExecution[], reason: string, manager: EntityManager): Promise<{ execution: Execution; event: ExecutionEvent }[]> {
    const created = all.map((fields) => queuedOf(fields, reason));
    // A few rows per statement: SQLite and MySQL bound the placeholders of one.
    for (let i = 0; i < created.length; i += ROWS_PER_INSERT) {
      const chunk = created.slice(i, i + ROWS_PER_INSERT);
      await insertRows(manager, Execution, chunk.map((c) => c.execution));
      await insertRows(manager, ExecutionEvent, chunk.map((c) => c.event));
    }
    return created;
  }

  /**
   * Creates the execution already started by this instance (the local fast path): PENDING and
   * PENDING → RUNNING as two events, one row written as RUNNING. Inside the caller's transaction;
   * publish with publishCreated then publishStarted.
   */
  async createStarted(fields: NewExecution, reason: string, start: { reason: string; leaseExpiresAt: Date }, manager: EntityManager): Promise<Started> {
    const { execution: pending, event: queued } = queuedOf(fields, reason);
    const started = eventFor(fields.id, fields.tenantId, 2, PENDING, RUNNING, start.reason, fields.attempt + 1);
    const running = Object.assign(new Execution(), pending, {
      status: RUNNING,
      transitions: 2,
      attempt: fields.attempt + 1,
      startedAt: started.at,
      leaseExpiresAt: start.leaseExpiresAt,
      updatedAt: started.at,
    });
    await insertRow(manager, Execution, running);
    await insertRows(manager, ExecutionEvent, [queued, started]);
    return { pending, queued, running, started };
  }

  /** Publishes the start of an execution createStarted made, after publishCreated. */
  publishStarted({ pending, running, started }: Started): void {
    publishExecutionUpdate(this.events, running, started);
    this.emit("transition", { previous: pending, execution: running, event: started });
  }

  /** Publishes the creation once its transaction has committed. */
  publishCreated(execution: Execution, event: ExecutionEvent): void {
    publishExecutionUpdate(this.events, execution, event);
    this.emit("transition", { previous: null, execution, event });
  }

  /**
   * Applies the transition, or returns null when the execution changed since the caller saw it
   * (another transition won the race). An illegal transition is an error.
   */
  async transition(request: TransitionRequest): Promise<Execution | null> {
    const { from, to, reason } = request;
    if (!isLegalTransition(from.status, to)) {
      throw new AppError("ILLEGAL_TRANSITION", `execution '${from.id}' is ${from.status}; it cannot become ${to}`, { layer: "validation" });
    }
    const event = eventFor(from.id, from.tenantId, from.transitions + 1, from.status, to, reason, request.changes?.attempt ?? from.attempt);
    const changes: Partial<Execution> = { ...request.changes, status: to, transitions: event.seq, updatedAt: event.at };
    const applied = await this.database.transaction(async (manager) => {
      if (!(await updateIfUnchanged(manager, Execution, from, changes))) return null;
      await insertRow(manager, ExecutionEvent, event);
      await request.also?.(manager);
      // The row is now exactly this: no need to read it back.
      const after = Object.assign(new Execution(), from, changes, { version: from.version + 1 });
      if (request.audit) {
        const fields = ["status", ...Object.keys(request.changes ?? {})];
        await AuditLog.record(manager, request.audit.scope, {
          action: request.audit.action,
          entityType: "Execution",
          entityId: from.id,
          before: AuditLog.snapshot(from, fields),
          after: AuditLog.snapshot(after, fields),
        });
      }
      return after;
    });
    if (applied) {
      publishExecutionUpdate(this.events, applied, event);
      this.emit("transition", { previous: from, execution: applied, event });
    }
    return applied;
  }

  /**
   * Extends the lease of the attempt that `running` started, if it still holds the execution (still
   * RUNNING, no transition since). Neither the version nor updatedAt moves: a renewal is not a change
   * a transition must see. False when the attempt lost it (cancelled, or taken over).
   */
  async renewLease(running: Execution, until: Date): Promise<boolean> {
    const result = await this.database.transaction((manager) =>
      manager
        .createQueryBuilder()
        .update(Execution)
        .set({ leaseExpiresAt: until, version: () => "version", updatedAt: () => "updatedAt" })
        .where("id = :id AND status = :status AND transitions = :transitions", { id: running.id, status: RUNNING, transitions: running.transitions })
        .execute(),
    );
    return result.affected === 1;
  }
}

/** What createStarted wrote: the execution as it was queued and as it started, and both events. */
export interface Started {
  pending: Execution;
  queued: ExecutionEvent;
  running: Execution;
  started: ExecutionEvent;
}

/** A new execution as queued (PENDING, version 1) and its first event. */
const ROWS_PER_INSERT = 100;

function queuedOf(fields: NewExecution, reason: string): { execution: Execution; event: ExecutionEvent } {
  const event = eventFor(fields.id, fields.tenantId, 1, null, PENDING, reason, fields.attempt);
  const execution = Object.assign(new Execution(), fields, { status: PENDING, transitions: 1, version: 1, createdAt: event.at, updatedAt: event.at });
  return { execution, event };
}

function eventFor(executionId: string, tenantId: string, seq: number, from: ExecutionStatus | null, to: ExecutionStatus, reason: string, attempt: number): ExecutionEvent {
  return Object.assign(new ExecutionEvent(), { id: newId(), tenantId, executionId, seq, from, to, at: new Date(), reason, attempt });
}
