import type { Optimization } from "../../entities/index.js";
import type { EventBus } from "../pubsub.js";

export const OPTIMIZATION_UPDATED = "OPTIMIZATION_UPDATED";

/**
 * What travels on the bus for every transition and every progress report: the optimization as it
 * then was. `version` orders transitions, `progressRank` orders progress within one version.
 */
export interface OptimizationUpdate {
  tenantId: string;
  programId: string;
  optimization: Optimization;
  /** `transition` when the status changed, `progress` when only the progress did. */
  kind: "transition" | "progress";
}

export function publishOptimizationUpdate(bus: EventBus, optimization: Optimization, kind: OptimizationUpdate["kind"]): void {
  bus.publish(OPTIMIZATION_UPDATED, { tenantId: optimization.tenantId, programId: optimization.programId, optimization, kind } satisfies OptimizationUpdate);
}

const PHASES = ["compile", "evaluate", "done"];

/** Progress of one attempt, in order: phase (compile → evaluate → done), then metric calls, then trials. */
export function progressRank(o: Pick<Optimization, "phase" | "metricCalls" | "trials">): [number, number, number] {
  return [o.phase === null ? 0 : PHASES.indexOf(o.phase) + 1, o.metricCalls, o.trials];
}

/** Whether update `a` comes after `b` (a later version, or more progress at the same version). */
export function isLater(a: Pick<Optimization, "version" | "phase" | "metricCalls" | "trials">, b: Pick<Optimization, "version" | "phase" | "metricCalls" | "trials">): boolean {
  if (a.version !== b.version) return a.version > b.version;
  const [x, y] = [progressRank(a), progressRank(b)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] > y[i];
  return false;
}
