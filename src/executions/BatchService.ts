import { Batch, BatchStatus, Execution, ExecutionStatus } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import { contentHash } from "../canonicalJson.js";
import type { Database } from "../db/Database.js";
import { isUniqueViolation } from "../db/dialect.js";
import { insertRow } from "../db/rows.js";
import { findInScope, requireInScope } from "../db/scoped.js";
import { AppError, type IssueDetail } from "../errors.js";
import { newId } from "../ids.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import { programOf } from "../programs/programOf.js";
import { validateProgramInputs } from "../programs/validateProgramInputs.js";
import { ProgramLabelService } from "../programs/ProgramLabels.js";
import type { EventBus } from "../pubsub.js";
import type { Scope } from "../scope.js";
import { IssueList } from "../validation.js";
import { listenToProgram } from "./ExecutionEvents.js";
import { type ExecutionService, idempotencyKeyProblem } from "./ExecutionService.js";
import type { ExecutionStateMachine } from "./ExecutionStateMachine.js";

export interface ExecuteProgramBatch {
  programId: string;
  versionId?: string | null;
  inputs: unknown;
  idempotencyKey?: string | null;
  label?: string | null;
  routingKey?: string | null;
}

/** A batch's executions by status. */
export interface BatchCounts {
  pending: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
}

export const MAX_BATCH_INPUTS = 1_000;
const { PENDING, RUNNING } = ExecutionStatus;

/**
 * executeProgramBatch: one execution per input, created with their batch in one transaction after every
 * input was checked (all or nothing), then queued like any execution. A batch's progress is counted
 * from its executions; cancelling it cancels those not finished.
 */
export class BatchService {
  constructor(
    private readonly database: Database,
    private readonly executions: ExecutionService,
    private readonly stateMachine: ExecutionStateMachine,
    private readonly events: EventBus,
  ) {}

  get(scope: Scope, id: string): Promise<Batch | null> {
    return findInScope(this.database.manager, Batch, scope, id);
  }

  require(scope: Scope, id: string, path: string): Promise<Batch> {
    return requireInScope(this.database.manager, Batch, scope, id, path, "batch");
  }

  async execute(scope: Scope, input: ExecuteProgramBatch): Promise<Batch> {
    const key = input.idempotencyKey ?? null;
    const keyProblem = idempotencyKeyProblem(key);
    if (keyProblem) throw AppError.badInput("input.idempotencyKey", keyProblem);
    const inputs = input.inputs;
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > MAX_BATCH_INPUTS) {
      throw AppError.badInput("input.inputs", `must be a list of 1 to ${MAX_BATCH_INPUTS} inputs, got ${Array.isArray(inputs) ? `${inputs.length}` : "no list"}`);
    }
    const routing = { label: input.label ?? null, routingKey: input.routingKey ?? null };
    const routingIssues = new IssueList();
    ProgramLabelService.requestIssues(routingIssues, input);
    if (!routingIssues.empty) throw AppError.fromIssues(routingIssues.issues);
    // A label chooses one version for the whole batch (by the routing key, or at random).
    const target = await this.executions.runTarget(scope, input.programId, input.versionId, routing);
    const program = programOf(target.version);
    // All or nothing: every input is checked before anything is written.
    const issues: IssueDetail[] = inputs.flatMap((value, i) => validateProgramInputs(program, value, `input.inputs[${i}]`));
    if (issues.length > 0) throw AppError.fromIssues(issues);

    const asked = routing.label !== null || routing.routingKey !== null ? routing : {};
    const requestHash = contentHash({ programId: target.program.id, versionId: input.versionId ?? null, inputs, ...asked });
    if (key !== null) {
      const existing = await this.byIdempotencyKey(scope, key, requestHash);
      if (existing) return existing;
    }
    const batch = Object.assign(new Batch(), {
      id: newId(),
      tenantId: scope.tenantId,
      programId: target.program.id,
      programVersionId: target.version.id,
      total: inputs.length,
      idempotencyKey: key,
      requestHash,
      cancelledAt: null,
    });
    const fields = (inputs as Record<string, unknown>[]).map((value) => this.executions.newExecution(scope, target, value, contentHash({ batchId: batch.id, inputs: value }), { batchId: batch.id, ...routing }));
    let created: Awaited<ReturnType<ExecutionStateMachine["createMany"]>>;
    try {
      created = await this.database.transaction(async (manager) => {
        await insertRow(manager, Batch, batch);
        const result = await this.stateMachine.createMany(fields, `queued version ${target.version.number} (batch ${batch.id})`, manager);
        await AuditLog.record(manager, scope, { action: "batch.create", entityType: "Batch", entityId: batch.id, after: { programId: batch.programId, programVersionId: batch.programVersionId, total: batch.total, idempotencyKey: key } });
        return result;
      });
    } catch (error) {
      // The same key, sent twice at once: the other request created it.
      if (key !== null && isUniqueViolation(error)) {
        const existing = await this.byIdempotencyKey(scope, key, requestHash);
        if (existing) return existing;
      }
      throw error;
    }
    for (const { execution, event } of created) this.stateMachine.publishCreated(execution, event);
    // Queued after the answer: a thousand jobs take a while on some stores, and they dispatch as they come.
    // An execution whose job could not be queued is FAILED (ENQUEUE_FAILED); one never queued (this
    // instance died meanwhile) is the reconciler's to find.
    void this.executions.enqueueAll(created.map((c) => c.execution)).catch(() => undefined);
    return this.require(scope, batch.id, "input");
  }

  /** Its executions' statuses, counted once per batch object (a query's fields and a subscription's event read it several times). */
  countsOf(batch: Batch): Promise<BatchCounts> {
    let counts = this.counted.get(batch);
    if (!counts) this.counted.set(batch, (counts = this.count(batch)));
    return counts;
  }

  private readonly counted = new WeakMap<Batch, Promise<BatchCounts>>();

  private async count(batch: Batch): Promise<BatchCounts> {
    const rows = (await this.database.manager
      .createQueryBuilder(Execution, "e")
      .select("e.status", "status")
      .addSelect("COUNT(*)", "n")
      .where("e.tenantId = :tenantId AND e.batchId = :batchId", { tenantId: batch.tenantId, batchId: batch.id })
      .groupBy("e.status")
      .getRawMany()) as { status: ExecutionStatus; n: number | string }[];
    const counts: BatchCounts = { pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
    for (const row of rows) counts[row.status.toLowerCase() as keyof BatchCounts] = Number(row.n);
    return counts;
  }

  status(batch: Batch, counts: BatchCounts): BatchStatus {
    if (batch.cancelledAt) return BatchStatus.CANCELLED;
    return counts.pending + counts.running > 0 ? BatchStatus.RUNNING : BatchStatus.FINISHED;
  }

  executionsOf(scope: Scope, batch: Batch, status: ExecutionStatus | null | undefined, page: PageArgs): Promise<Page<Execution>> {
    const query = this.database.manager.createQueryBuilder(Execution, "e").where("e.tenantId = :tenantId AND e.batchId = :batchId", { tenantId: scope.tenantId, batchId: batch.id });
    if (status != null) query.andWhere("e.status = :status", { status });
    return paginate(query, page);
  }

  /** Marks the batch cancelled, then cancels each of its executions still PENDING or RUNNING. */
  async cancel(scope: Scope, id: string): Promise<Batch> {
    const batch = await this.require(scope, id, "id");
    if (!batch.cancelledAt) {
      const cancelledAt = new Date();
      await this.database.transaction(async (manager) => {
        await manager.update(Batch, { id: batch.id, tenantId: scope.tenantId }, { cancelledAt });
        // One event for the batch; its executions' own logs say "batch … cancelled".
        await AuditLog.record(manager, scope, { action: "batch.cancel", entityType: "Batch", entityId: batch.id, before: { cancelledAt: null }, after: { cancelledAt: cancelledAt.toISOString() } });
      });
    }
    const open = await this.database.manager.find(Execution, { where: [{ tenantId: scope.tenantId, batchId: batch.id, status: PENDING }, { tenantId: scope.tenantId, batchId: batch.id, status: RUNNING }] });
    for (const execution of open) {
      await this.executions.cancel(scope, execution.id, `batch ${batch.id} cancelled`, false).catch((error: unknown) => {
        // Finished meanwhile: nothing to cancel.
        if (!(error instanceof AppError && error.code === "ILLEGAL_TRANSITION")) throw error;
      });
    }
    return this.require(scope, batch.id, "id");
  }

  /**
   * The batch now, then again whenever its executions change, at most every `coalesceMs` (a batch of
   * 1,000 makes 3,000 transitions); completes once nothing in it is PENDING or RUNNING.
   */
  async updates(scope: Scope, id: string, coalesceMs = 100): Promise<AsyncIterableIterator<Batch>> {
    // Subscribed first, then read: a change between the two is seen by one or the other.
    const batch = await this.require(scope, id, "id");
    const source = listenToProgram(this.events, batch.programId);
    const signal = { dirty: true, ended: false, wake: null as (() => void) | null };
    void (async () => {
      for await (const update of source) {
        if (update.tenantId !== scope.tenantId || update.execution.batchId !== batch.id) continue;
        signal.dirty = true;
        signal.wake?.();
      }
      signal.ended = true;
      signal.wake?.();
    })();
    const service = this;
    async function* run(): AsyncGenerator<Batch> {
      try {
        for (;;) {
          if (!signal.dirty) {
            if (signal.ended) return;
            await new Promise<void>((resolve) => (signal.wake = resolve));
            signal.wake = null;
            continue;
          }
          signal.dirty = false;
          const now = (await service.get(scope, id)) ?? batch;
          const counts = await service.countsOf(now);
          yield now;
          if (counts.pending + counts.running === 0) return;
          await new Promise((resolve) => setTimeout(resolve, coalesceMs));
        }
      } finally {
        await source.return?.();
      }
    }
    return run();
  }

  private async byIdempotencyKey(scope: Scope, key: string, requestHash: string): Promise<Batch | null> {
    const existing = await this.database.manager.findOneBy(Batch, { tenantId: scope.tenantId, idempotencyKey: key });
    if (existing && existing.requestHash !== requestHash) {
      throw AppError.conflict("input.idempotencyKey: this key was already used for a different batch (program, version or inputs differ)", "input.idempotencyKey");
    }
    return existing;
  }
}
