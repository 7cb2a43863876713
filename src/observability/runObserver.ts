import type { RunRow, RunStateMachine, RunTransitionEvent } from "../state/RunStateMachine.js";
import type { Logger } from "./logger.js";
import type { ProductMetrics } from "./metrics.js";

const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

/**
 * Evaluations' and optimizations' transitions (the run state machine's): one log line each and the
 * run series. Like executions': ids, statuses and an error's code and layer, never its text.
 */
export function observeRuns<E extends RunRow>(stateMachine: RunStateMachine<E, Partial<E>>, logger: Logger, metrics: ProductMetrics): void {
  const kind = stateMachine.entityType.toLowerCase();
  stateMachine.on("transition", (transition: RunTransitionEvent<E>) => {
    try {
      const from = transition.from ?? "NONE";
      const row = transition.row as E & { id: string; tenantId?: string; programId?: string; status: string; error?: { code?: unknown; layer?: unknown } | null };
      metrics.runTransitions.inc({ kind, from, to: row.status });
      if (FINAL.has(row.status)) metrics.runs.inc({ kind, status: row.status });
      const error = row.status === "FAILED" && row.error ? { code: row.error.code, layer: row.error.layer } : undefined;
      logger[row.status === "FAILED" ? "warn" : "info"]({ [`${kind}Id`]: row.id, programId: row.programId, tenant: row.tenantId, from, to: row.status, ...(error ? { error } : {}) }, `${kind} transition`);
    } catch (error) {
      // An observer's bug must never fail the transition that was already committed.
      logger.error({ err: error }, `${kind} observer failed`);
    }
  });
}
