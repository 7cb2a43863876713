import type { Execution, ExecutionError } from "../../entities/index.js";
import type { ExecutionStateMachine, ExecutionTransition } from "../executions/ExecutionStateMachine.js";
import { lmCallsOf, tokenCount } from "../executions/traceLmCalls.js";
import { BoundedLabel } from "./boundedLabel.js";
import type { Logger } from "./logger.js";
import type { ProductMetrics } from "./metrics.js";

/** Distinct model strings kept as label values; the rest count as `other`. */
const MAX_MODELS = 50;
const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
/** Distinct label names (production, canary…) kept as label values. */
const MAX_LABELS = 100;
/** Program/version pairs with series of their own; the rest count as `other`. */
const MAX_VERSION_SERIES = 1_000;

/** The program_id and version_id labels of a program version: its ids, or `other` past MAX_VERSION_SERIES pairs. */
export class VersionLabels {
  private readonly pairs = new BoundedLabel(MAX_VERSION_SERIES, "other", 80);

  of(programId: string, versionId: string): { program_id: string; version_id: string } {
    return this.pairs.value(`${programId}/${versionId}`) === "other" ? { program_id: "other", version_id: "other" } : { program_id: programId, version_id: versionId };
  }
}


/**
 * Turns the executions' state machine's transitions into one log line each and the execution and
 * LM series. A log line carries ids, statuses, the attempt and an error's code and layer: never the
 * reason's or error's text (an LM's answer can be quoted in it), inputs, outputs or the trace.
 */
export function observeExecutions(stateMachine: ExecutionStateMachine, logger: Logger, metrics: ProductMetrics, versionLabels: VersionLabels): void {
  const models = new BoundedLabel(MAX_MODELS);
  const versions = versionLabels;
  const labels = new BoundedLabel(MAX_LABELS);
  stateMachine.on("transition", (transition) => {
    try {
      record(transition);
    } catch (error) {
      // An observer's bug must never fail the transition that was already committed.
      logger.error({ err: error }, "execution observer failed");
    }
  });

  function record({ previous, execution, event }: ExecutionTransition): void {
    const from = previous?.status ?? "NONE";
    const to = execution.status;
    metrics.executionTransitions.inc({ from, to });
    const error = to === "FAILED" || (from === "RUNNING" && to === "PENDING") ? execution.error : null;
    const level = to === "FAILED" ? "warn" : "info";
    logger[level](
      {
        executionId: execution.id,
        programId: execution.programId,
        tenant: execution.tenantId,
        from,
        to,
        seq: event.seq,
        attempt: execution.attempt,
        maxAttempts: execution.maxAttempts,
        ...(error ? { error: { code: error.code, layer: error.layer, retriable: error.retriable } } : {}),
      },
      "execution transition",
    );
    if (previous?.status === "PENDING" && to === "RUNNING") {
      metrics.pickupLatency.observe({ attempt: execution.attempt <= 1 ? "first" : "retry" }, seconds(previous.updatedAt, event.at));
    }
    if (FINAL.has(to)) {
      metrics.executions.inc({ status: to, adapter: execution.adapter ?? "none" });
      observeVersion(execution, to);
      if (execution.startedAt && from === "RUNNING") metrics.executionDuration.observe({ status: to }, seconds(execution.startedAt, event.at));
    }
    // An attempt ended here (completed, failed, or failed and queued again): its LM calls are known now.
    if (from === "RUNNING" && to !== "CANCELLED") observeLmCalls(execution, error);
  }

  function observeVersion(execution: Execution, status: string): void {
    const ids = versions.of(execution.programId, execution.programVersionId);
    metrics.versionExecutions.inc({ ...ids, label: labels.value(execution.label, "none"), status });
    if (status === "CANCELLED") return;
    metrics.versionLatency.observe({ ...ids, status }, seconds(execution.queuedAt, execution.finishedAt ?? new Date()));
    const usage = execution.usage;
    metrics.versionTokens.inc({ ...ids, kind: "prompt" }, tokenCount(usage?.prompt_tokens));
    metrics.versionTokens.inc({ ...ids, kind: "completion" }, tokenCount(usage?.completion_tokens));
  }

  function observeLmCalls(execution: Execution, error: ExecutionError | null): void {
    const trace = execution.status === "COMPLETED" ? execution.trace : error?.details?.trace;
    let erroredCalls = 0;
    for (const call of lmCallsOf(trace)) {
      const model = models.value(typeof call.model === "string" ? call.model : undefined);
      metrics.lmCalls.inc({ model });
      // Incremented even by 0 (DummyLM reports no tokens), so the series exists from a model's first call.
      metrics.lmTokens.inc({ model, kind: "prompt" }, tokenCount(call.usage?.prompt_tokens));
      metrics.lmTokens.inc({ model, kind: "completion" }, tokenCount(call.usage?.completion_tokens));
      if (typeof call.latency_ms === "number" && call.latency_ms >= 0) metrics.lmLatency.observe({ model }, call.latency_ms / 1000);
      if (call.error !== undefined && call.error !== null) {
        metrics.lmErrors.inc({ model });
        erroredCalls += 1;
      }
    }
    if (error?.layer === "lm" && erroredCalls === 0) metrics.lmErrors.inc({ model: "unknown" });
  }
}

function seconds(from: Date | string, to: Date | string): number {
  return Math.max(0, (new Date(to).getTime() - new Date(from).getTime()) / 1000);
}
