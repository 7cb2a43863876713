import { Evaluation } from "../../entities/index.js";
import type { Database } from "../db/Database.js";
import type { EventBus } from "../pubsub.js";
import { RUN_TERMINAL, RunStateMachine, type RunTransition } from "../state/RunStateMachine.js";
import { publishEvaluationUpdate } from "./EvaluationEvents.js";

export const EVALUATION_TERMINAL = RUN_TERMINAL;

export type EvaluationChanges = Partial<Pick<Evaluation, "score" | "results" | "usage" | "cost" | "error" | "progressDone" | "progressTotal" | "startedAt" | "finishedAt" | "leaseExpiresAt">>;

export type NewEvaluation = Omit<Evaluation, "createdAt" | "updatedAt" | "version" | "status" | "assignId">;

export type EvaluationTransition = RunTransition<Evaluation, EvaluationChanges>;

/** The only way an evaluation's status changes (src/state/RunStateMachine.ts). */
export class EvaluationStateMachine extends RunStateMachine<Evaluation, EvaluationChanges> {
  constructor(database: Database, events: EventBus) {
    super(database, Evaluation, "Evaluation", (evaluation, kind) => publishEvaluationUpdate(events, evaluation, kind));
  }

  /** Progress of a RUNNING evaluation; false when it is no longer running (e.g. cancelled). */
  progress(running: Evaluation, done: number, total: number | null): Promise<boolean> {
    return this.recordProgress(running, { progressDone: done, progressTotal: total });
  }
}
