import type { Evaluation } from "../../entities/index.js";
import type { EventBus } from "../pubsub.js";

export const EVALUATION_UPDATED = "EVALUATION_UPDATED";

/**
 * What travels on the bus for every transition and every progress report: the evaluation as it
 * then was. `version` orders transitions, `progressDone` orders progress within one version.
 */
export interface EvaluationUpdate {
  tenantId: string;
  programId: string;
  evaluation: Evaluation;
  /** `transition` when the status changed, `progress` when only the progress did. */
  kind: "transition" | "progress";
}

export function publishEvaluationUpdate(bus: EventBus, evaluation: Evaluation, kind: EvaluationUpdate["kind"]): void {
  bus.publish(EVALUATION_UPDATED, { tenantId: evaluation.tenantId, programId: evaluation.programId, evaluation, kind } satisfies EvaluationUpdate);
}

/** Whether update `a` comes after `b` (a later version, or more progress at the same version). */
export function isLater(a: Pick<Evaluation, "version" | "progressDone">, b: Pick<Evaluation, "version" | "progressDone">): boolean {
  return a.version > b.version || (a.version === b.version && a.progressDone > b.progressDone);
}
