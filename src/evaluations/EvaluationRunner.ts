import { Evaluation, ExecutionStatus, LanguageModel, ProgramVersion } from "../../entities/index.js";
import { loadRunContext } from "../programs/dependencies.js";
import { programOf } from "../programs/programOf.js";
import type { DspyAdapter } from "../adapters/DspyAdapter.js";
import type { Database } from "../db/Database.js";
import { AppError } from "../errors.js";
import { DONE, keepLease, later, leaseLeft, type RunOutcome, settled } from "../state/lease.js";
import { recordedError } from "../state/recordedError.js";
import { metricSpecFor } from "./judge.js";
import type { EventBus } from "../pubsub.js";
import { languageModelsOf, priceRunUsage } from "../executions/executionCost.js";
import { ModelPrices } from "../languageModels/ModelPrices.js";
import type { BudgetService } from "../budgets/BudgetService.js";
import { CancelWatch } from "../state/CancelWatch.js";
import { EVALUATION_UPDATED, type EvaluationUpdate } from "./EvaluationEvents.js";
import { EVALUATION_TERMINAL, type EvaluationStateMachine } from "./EvaluationStateMachine.js";
import { examplesOf, type MetricInput } from "./EvaluationService.js";

export interface EvaluationRunnerSettings {
  /** Deadline of one evaluation, from the worker pool's point of view. */
  deadlineMs: number;
  /** How long an attempt's lease lasts without renewal (JOB_LOCK_LIFETIME_MS; src/state/lease.ts). */
  leaseMs: number;
}

const { PENDING, RUNNING, COMPLETED, FAILED, CANCELLED } = ExecutionStatus;

/**
 * One evaluation, as the `evaluate-program` job runs it: PENDING → RUNNING, the adapter's
 * `evaluate` (progress written and published as it comes), then COMPLETED or FAILED. An evaluation
 * runs once: a failure of the whole run (e.g. its worker died) is FAILED with a retriable error, and
 * a new evaluateProgram is the retry. A cancelled evaluation's worker gets `cancel` (via the signal).
 */
export class EvaluationRunner {
  private readonly cancels: CancelWatch<EvaluationUpdate>;

  constructor(
    private readonly database: Database,
    private readonly stateMachine: EvaluationStateMachine,
    private readonly adapter: DspyAdapter,
    events: EventBus,
    private readonly settings: EvaluationRunnerSettings,
    private readonly prices: ModelPrices = new ModelPrices(),
    /** Checked as it starts: an evaluation queued while under budget may find it spent. */
    private readonly budgets?: Pick<BudgetService, "check">,
  ) {
    this.cancels = new CancelWatch(events, EVALUATION_UPDATED, (u) => (u.evaluation.status === CANCELLED ? u.evaluation.id : null));
  }

  /** Stops watching the bus and what runs (the server's shutdown). */
  async close(): Promise<void> {
    await this.cancels.close(true);
  }

  async run(evaluationId: string, tenantId: string): Promise<RunOutcome> {
    let evaluation = await this.database.manager.findOneBy(Evaluation, { id: evaluationId, tenantId });
    if (!evaluation || EVALUATION_TERMINAL.includes(evaluation.status)) return DONE;
    if (evaluation.status === RUNNING) {
      const held = leaseLeft(evaluation);
      if (held > 0) return later(held); // its holder is alive: this job is a second copy of the same attempt
      // The lease expired: the instance running it stopped (or stalled) before it finished. Run it again.
      const requeued = await this.stateMachine.transition({ from: evaluation, to: PENDING, changes: { progressDone: 0, leaseExpiresAt: null } });
      if (!requeued) return this.settle(evaluation);
      evaluation = requeued;
    }
    const examples = await examplesOf(this.database.manager, tenantId, evaluation.datasetId, evaluation.split);
    const running = await this.stateMachine.transition({
      from: evaluation,
      to: RUNNING,
      changes: { startedAt: new Date(), progressDone: 0, progressTotal: examples.length, leaseExpiresAt: this.leaseFromNow() },
    });
    if (!running) return this.settle(evaluation); // cancelled, or another holder started it first
    const controller = this.cancels.start(running.id);
    const stopLease = keepLease(() => this.stateMachine.renewLease(running, this.leaseFromNow()), this.settings.leaseMs / 3, controller);
    let progress = Promise.resolve();
    let reported = 0;
    try {
      const [version, lm] = await Promise.all([
        this.database.manager.findOneBy(ProgramVersion, { id: running.programVersionId, tenantId }),
        this.database.manager.findOneBy(LanguageModel, { id: running.languageModelId, tenantId }),
      ]);
      if (!version) throw new AppError("NOT_FOUND", `program version '${running.programVersionId}' no longer exists`, { layer: "storage" });
      if (!lm) throw new AppError("NOT_FOUND", `language model '${running.languageModelId}' no longer exists`, { layer: "storage" });
      if (examples.length === 0) throw new AppError("NO_EXAMPLES", `the ${running.split} split no longer has examples`, { layer: "storage" });
      await this.budgets?.check(tenantId, running.languageModelId);
      const result = await this.adapter.evaluate({
        program: { versionId: version.id, program: programOf(version), compiledState: version.compiledState },
        ...(await loadRunContext(this.database.manager, tenantId, programOf(version))),
        lm,
        examples: examples.map((e) => ({ inputs: e.inputs, labels: e.labels })),
        metric: await metricSpecFor(this.database.manager, running.metric as unknown as MetricInput, tenantId),
        numThreads: running.numThreads ?? undefined,
        deadlineMs: this.settings.deadlineMs,
        signal: controller.signal,
        onProgress: ({ phase, done, total }) => {
          if (phase !== "evaluate" || done <= reported) return;
          reported = done;
          // One write at a time, in order; a write that finds it no longer RUNNING means it was cancelled (maybe elsewhere).
          progress = progress.then(async () => {
            if (!(await this.stateMachine.progress(running, done, total ?? examples.length))) controller.abort();
          });
        },
      });
      await progress.catch(() => undefined);
      const cost = priceRunUsage(result.usage, await languageModelsOf(this.database.manager, tenantId, result.usage), this.prices);
      // Null when it was cancelled (or taken over) meanwhile: the result is discarded.
      const completed = await this.stateMachine.transition({
        from: running,
        to: COMPLETED,
        changes: { score: result.score, results: result.results, usage: result.usage ?? null, cost, progressDone: examples.length, progressTotal: examples.length, error: null, finishedAt: new Date(), leaseExpiresAt: null },
      });
      return completed ? DONE : this.settle(running);
    } catch (cause) {
      await progress.catch(() => undefined);
      if (controller.signal.aborted) return this.settle(running); // cancelled or taken over: the row says which
      const failed = await this.stateMachine.transition({ from: running, to: FAILED, changes: { error: recordedError(cause, "evaluation"), finishedAt: new Date(), leaseExpiresAt: null } });
      return failed ? DONE : this.settle(running);
    } finally {
      stopLease();
      this.cancels.finish(running.id);
    }
  }

  private leaseFromNow(): Date {
    return new Date(Date.now() + this.settings.leaseMs);
  }

  private async settle(seen: Evaluation): Promise<RunOutcome> {
    return settled(await this.database.manager.findOneBy(Evaluation, { id: seen.id, tenantId: seen.tenantId }), EVALUATION_TERMINAL);
  }

}
