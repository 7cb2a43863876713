import { Example, ExecutionStatus, LanguageModel, Optimization, ProgramVersion, VersionSource } from "../../entities/index.js";
import { loadRunContext } from "../programs/dependencies.js";
import { programOf } from "../programs/programOf.js";
import type { CompileResult, DspyAdapter, OptimizerName } from "../adapters/DspyAdapter.js";
import { contentHash } from "../canonicalJson.js";
import type { Database } from "../db/Database.js";
import { isUniqueViolation } from "../db/dialect.js";
import { row } from "../db/rows.js";
import { AppError } from "../errors.js";
import { DONE, keepLease, later, leaseLeft, type RunOutcome, settled } from "../state/lease.js";
import { recordedError } from "../state/recordedError.js";
import { metricSpecFor } from "../evaluations/judge.js";
import { examplesOf, type MetricInput } from "../evaluations/EvaluationService.js";
import { newId } from "../ids.js";
import type { EventBus } from "../pubsub.js";
import { languageModelsOf, priceRunUsage } from "../executions/executionCost.js";
import { ModelPrices } from "../languageModels/ModelPrices.js";
import type { BudgetService } from "../budgets/BudgetService.js";
import { CancelWatch } from "../state/CancelWatch.js";
import { OPTIMIZATION_UPDATED, type OptimizationUpdate, isLater } from "./OptimizationEvents.js";
import { OPTIMIZATION_TERMINAL, type OptimizationProgressUpdate, type OptimizationStateMachine } from "./OptimizationStateMachine.js";

export interface OptimizationRunnerSettings {
  /** Deadline of one optimization, from the worker pool's point of view. */
  deadlineMs: number;
  /** How long an attempt's lease lasts without renewal (JOB_LOCK_LIFETIME_MS; src/state/lease.ts). */
  leaseMs: number;
}

const { PENDING, RUNNING, COMPLETED, FAILED, CANCELLED } = ExecutionStatus;

/**
 * One optimization, as the `optimize-program` job runs it: PENDING → RUNNING, the adapter's
 * `compile` (progress written and published as it comes), then COMPLETED — with a new program
 * version holding the compiled state, its score and a link back, not made current — or FAILED.
 * A cancelled optimization's worker gets `cancel` (via the signal).
 */
export class OptimizationRunner {
  private readonly cancels: CancelWatch<OptimizationUpdate>;

  constructor(
    private readonly database: Database,
    private readonly stateMachine: OptimizationStateMachine,
    private readonly adapter: DspyAdapter,
    events: EventBus,
    private readonly settings: OptimizationRunnerSettings,
    private readonly prices: ModelPrices = new ModelPrices(),
    /** Checked as it starts, and as its spend grows (progress): it stops once a budget it falls under is spent. */
    private readonly budgets?: Pick<BudgetService, "check">,
  ) {
    this.cancels = new CancelWatch(events, OPTIMIZATION_UPDATED, (u) => (u.optimization.status === CANCELLED ? u.optimization.id : null));
  }

  async close(): Promise<void> {
    await this.cancels.close(true);
  }

  async run(optimizationId: string, tenantId: string): Promise<RunOutcome> {
    let optimization = await this.database.manager.findOneBy(Optimization, { id: optimizationId, tenantId });
    if (!optimization || OPTIMIZATION_TERMINAL.includes(optimization.status)) return DONE;
    if (optimization.status === RUNNING) {
      const held = leaseLeft(optimization);
      if (held > 0) return later(held); // its holder is alive: this job is a second copy of the same attempt
      // The lease expired: the instance running it stopped (or stalled) before it finished. Run it again.
      const requeued = await this.stateMachine.transition({ from: optimization, to: PENDING, changes: { phase: null, metricCalls: 0, trials: 0, bestScore: null, leaseExpiresAt: null } });
      if (!requeued) return this.settle(optimization);
      optimization = requeued;
    }
    const running = await this.stateMachine.transition({
      from: optimization,
      to: RUNNING,
      changes: { startedAt: new Date(), phase: null, metricCalls: 0, trials: 0, bestScore: null, leaseExpiresAt: this.leaseFromNow() },
    });
    if (!running) return this.settle(optimization); // cancelled, or another holder started it first
    const controller = this.cancels.start(running.id);
    const stopLease = keepLease(() => this.stateMachine.renewLease(running, this.leaseFromNow()), this.settings.leaseMs / 3, controller);
    let progress = Promise.resolve();
    let reported = running;
    // Set when its spend reached a budget mid-run: it is then stopped (cancel) and fails with this.
    let overBudget: AppError | null = null;
    let checking = false;
    try {
      const [version, lm, reflectionLm] = await Promise.all([
        this.database.manager.findOneBy(ProgramVersion, { id: running.programVersionId, tenantId }),
        this.database.manager.findOneBy(LanguageModel, { id: running.languageModelId, tenantId }),
        running.reflectionLanguageModelId ? this.database.manager.findOneBy(LanguageModel, { id: running.reflectionLanguageModelId, tenantId }) : Promise.resolve(null),
      ]);
      if (!version) throw new AppError("NOT_FOUND", `program version '${running.programVersionId}' no longer exists`, { layer: "storage" });
      if (!lm) throw new AppError("NOT_FOUND", `language model '${running.languageModelId}' no longer exists`, { layer: "storage" });
      if (running.reflectionLanguageModelId && !reflectionLm) throw new AppError("NOT_FOUND", `language model '${running.reflectionLanguageModelId}' no longer exists`, { layer: "storage" });
      const examples = (list: Example[]) => list.map((e) => ({ inputs: e.inputs, labels: e.labels }));
      const trainset = examples(await examplesOf(this.database.manager, tenantId, running.datasetId, running.trainSplit));
      const devset = running.devSplit ? examples(await examplesOf(this.database.manager, tenantId, running.datasetId, running.devSplit)) : null;
      if (trainset.length === 0) throw new AppError("NO_EXAMPLES", `the ${running.trainSplit} split no longer has examples`, { layer: "storage" });
      await this.budgets?.check(tenantId, running.languageModelId);
      const result = await this.adapter.compile({
        program: { versionId: version.id, program: programOf(version), compiledState: version.compiledState },
        ...(await loadRunContext(this.database.manager, tenantId, programOf(version))),
        lm,
        reflectionLm,
        optimizer: running.optimizer as OptimizerName,
        config: running.config,
        trainset,
        devset,
        metric: await metricSpecFor(this.database.manager, running.metric as unknown as MetricInput, tenantId),
        seed: running.seed,
        deadlineMs: this.settings.deadlineMs,
        signal: controller.signal,
        onProgress: (p) => {
          // Its spend so far counts against its budgets: past one, it is stopped (one check at a time).
          if (this.budgets && p.usage && !checking && !overBudget) {
            checking = true;
            const usage = p.usage;
            void languageModelsOf(this.database.manager, tenantId, usage)
              .then((lms) => this.budgets!.check(tenantId, running.languageModelId, undefined, priceRunUsage(usage, lms, this.prices) ?? 0))
              .catch((error: unknown) => {
                if (error instanceof AppError && error.code === "BUDGET_EXCEEDED") (overBudget = error), controller.abort();
              })
              .finally(() => (checking = false));
          }
          const update: OptimizationProgressUpdate = { phase: p.phase, metricCalls: p.metricCalls, trials: p.trials, bestScore: p.bestScore };
          if (!isLater({ ...update, version: running.version }, reported)) return;
          reported = Object.assign(new Optimization(), reported, update);
          // One write at a time, in order; a write that finds it no longer RUNNING means it was cancelled (maybe elsewhere).
          progress = progress.then(async () => {
            if (!(await this.stateMachine.progress(running, update))) controller.abort();
          });
        },
      });
      await progress.catch(() => undefined);
      return (await this.complete(running, version, result, priceRunUsage(result.usage, await languageModelsOf(this.database.manager, tenantId, result.usage), this.prices))) ? DONE : this.settle(running);
    } catch (cause) {
      await progress.catch(() => undefined);
      if (controller.signal.aborted && !overBudget) return this.settle(running); // cancelled or taken over: the row says which
      if (overBudget) cause = overBudget;
      const failed = await this.stateMachine.transition({ from: running, to: FAILED, changes: { error: recordedError(cause, "optimization"), finishedAt: new Date(), leaseExpiresAt: null } });
      return failed ? DONE : this.settle(running);
    } finally {
      stopLease();
      this.cancels.finish(running.id);
    }
  }

  private leaseFromNow(): Date {
    return new Date(Date.now() + this.settings.leaseMs);
  }

  private async settle(seen: Optimization): Promise<RunOutcome> {
    return settled(await this.database.manager.findOneBy(Optimization, { id: seen.id, tenantId: seen.tenantId }), OPTIMIZATION_TERMINAL);
  }

  /**
   * COMPLETED and the new version, in one transaction (a number taken concurrently: the next one).
   * False when the optimization changed meanwhile (cancelled, or taken over): nothing is written.
   */
  private async complete(running: Optimization, source: ProgramVersion, result: CompileResult, cost: number | null): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const versionId = newId();
      try {
        const completed = await this.stateMachine.transition({
          from: running,
          to: COMPLETED,
          changes: { score: result.score, resultVersionId: versionId, usage: result.usage ?? null, cost, phase: "done", metricCalls: Math.max(result.metricCalls, running.metricCalls), trials: result.trials, bestScore: result.bestTrialScore, error: null, finishedAt: new Date(), leaseExpiresAt: null },
          also: async (manager) => {
            const last = await manager.maximum(ProgramVersion, "number", { programId: running.programId });
            await manager.insert(
              ProgramVersion,
              row<ProgramVersion>({
                id: versionId,
                tenantId: running.tenantId,
                programId: running.programId,
                number: (last ?? 0) + 1,
                definition: source.definition,
                normalized: source.normalized,
                contentHash: contentHash(source.definition),
                compiledState: result.compiledState,
                dspyState: result.dspyState,
                source: VersionSource.OPTIMIZATION,
                score: result.score,
                optimizationId: running.id,
              }),
            );
          },
        });
        return completed !== null;
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= 4) throw error;
      }
    }
  }

}
