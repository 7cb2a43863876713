import { Optimization } from "../../entities/index.js";
import type { Database } from "../db/Database.js";
import type { EventBus } from "../pubsub.js";
import { RUN_TERMINAL, RunStateMachine, type RunTransition } from "../state/RunStateMachine.js";
import { publishOptimizationUpdate } from "./OptimizationEvents.js";

export const OPTIMIZATION_TERMINAL = RUN_TERMINAL;

export type OptimizationChanges = Partial<Pick<Optimization, "score" | "resultVersionId" | "usage" | "cost" | "error" | "phase" | "metricCalls" | "trials" | "bestScore" | "startedAt" | "finishedAt" | "leaseExpiresAt">>;

export interface OptimizationProgressUpdate {
  phase: string;
  metricCalls: number;
  trials: number;
  bestScore: number | null;
}

export type NewOptimization = Omit<Optimization, "createdAt" | "updatedAt" | "version" | "status" | "assignId">;

export type OptimizationTransition = RunTransition<Optimization, OptimizationChanges>;

/** The only way an optimization's status changes (src/state/RunStateMachine.ts). */
export class OptimizationStateMachine extends RunStateMachine<Optimization, OptimizationChanges> {
  constructor(database: Database, events: EventBus) {
    super(database, Optimization, "Optimization", (optimization, kind) => publishOptimizationUpdate(events, optimization, kind));
  }

  /** Progress of a RUNNING optimization; false when it is no longer running (e.g. cancelled). */
  progress(running: Optimization, update: OptimizationProgressUpdate): Promise<boolean> {
    return this.recordProgress(running, update);
  }
}
