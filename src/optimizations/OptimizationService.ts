import type { BudgetService } from "../budgets/BudgetService.js";
import { programOf } from "../programs/programOf.js";
import { ExampleSplit, ExecutionStatus, Optimization, type Optimizer } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { findInScope, requireInScope } from "../db/scoped.js";
import type { DatasetService } from "../datasets/DatasetService.js";
import { AppError, type IssueDetail } from "../errors.js";
import { examplesOf, MAX_EXAMPLES } from "../evaluations/EvaluationService.js";
import { resolveMetric, type MetricRequest } from "../evaluations/judge.js";
import { commonLabels, validateMetric } from "../evaluations/metrics.js";
import { isId, newId } from "../ids.js";
import type { LanguageModelService } from "../languageModels/LanguageModelService.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import type { ProgramService } from "../programs/ProgramService.js";
import { validateProgramInputs } from "../programs/validateProgramInputs.js";
import type { Scope } from "../scope.js";
import type { NewOptimization, OptimizationStateMachine } from "./OptimizationStateMachine.js";
import { isOptimizer, OPTIMIZERS, validateOptimizerConfig } from "./optimizerConfig.js";

export interface OptimizeProgram {
  programId: string;
  /** The version to optimize; the program's current one by default. */
  versionId?: string | null;
  optimizer: Optimizer;
  config?: Record<string, unknown> | null;
  datasetId: string;
  trainSplit: ExampleSplit;
  devSplit?: ExampleSplit | null;
  metric: MetricRequest;
  /** GEPA only, and required there. */
  reflectionLanguageModelId?: string | null;
  seed?: number | null;
}

/** Where optimizations are queued (Agenda's `optimize-program` job). */
export interface OptimizationQueue {
  enqueueOptimization(job: { optimizationId: string; tenantId: string }): Promise<void>;
}

const { PENDING, RUNNING, FAILED, CANCELLED } = ExecutionStatus;
const AUDITED_ON_CREATE = ["programId", "programVersionId", "datasetId", "languageModelId", "reflectionLanguageModelId", "optimizer", "config", "trainSplit", "devSplit", "metric", "seed", "status"] as const;

/** Queues optimizations, cancels them, and answers questions about them. */
export class OptimizationService {
  constructor(
    private readonly database: Database,
    private readonly programs: ProgramService,
    private readonly datasets: DatasetService,
    private readonly languageModels: LanguageModelService,
    private readonly stateMachine: OptimizationStateMachine,
    private readonly queue: OptimizationQueue,
    private readonly budgets?: Pick<BudgetService, "check">,
  ) {}

  get(scope: Scope, id: string): Promise<Optimization | null> {
    return findInScope(this.database.manager, Optimization, scope, id);
  }

  require(scope: Scope, id: string, path: string): Promise<Optimization> {
    return requireInScope(this.database.manager, Optimization, scope, id, path, "optimization");
  }

  list(scope: Scope, programId: string | null | undefined, page: PageArgs): Promise<Page<Optimization>> {
    const query = this.database.manager.createQueryBuilder(Optimization, "o").where("o.tenantId = :tenantId", { tenantId: scope.tenantId });
    if (programId != null) query.andWhere("o.programId = :programId", { programId: isId(programId) ? programId : "" });
    return paginate(query, page);
  }

  /**
   * Checks everything before writing anything — ids, the optimizer's config (the worker's own rules,
   * src/optimizations/optimizerConfig.ts), the splits' examples against the program, the metric
   * against its outputs and the examples' labels, GEPA's reflection LM — then persists the
   * optimization as PENDING (audited) and queues its job.
   */
  async optimize(scope: Scope, input: OptimizeProgram): Promise<Optimization> {
    const fields = await this.prepare(scope, input);
    return this.persist(scope, fields);
  }

  /** Every check of `optimize`, and the optimization it would create; writes nothing. */
  async prepare(scope: Scope, input: OptimizeProgram): Promise<NewOptimization> {
    const early: IssueDetail[] = [];
    const splits = Object.values(ExampleSplit);
    if (!splits.includes(input.trainSplit)) early.push({ path: "input.trainSplit", reason: `must be one of ${splits.join(", ")}` });
    if (input.devSplit != null && !splits.includes(input.devSplit)) early.push({ path: "input.devSplit", reason: `must be one of ${splits.join(", ")}` });
    if (input.devSplit != null && input.devSplit === input.trainSplit) early.push({ path: "input.devSplit", reason: "must differ from trainSplit (leave it out to score on the train split)" });
    if (!isOptimizer(input.optimizer)) early.push({ path: "input.optimizer", reason: `must be one of ${OPTIMIZERS.join(", ")}` });
    else early.push(...validateOptimizerConfig(input.optimizer, input.config ?? {}, "input.config"));
    if (input.seed != null && !Number.isSafeInteger(input.seed)) early.push({ path: "input.seed", reason: "must be an integer" });
    if (input.optimizer === "GEPA" && input.reflectionLanguageModelId == null) early.push({ path: "input.reflectionLanguageModelId", reason: "GEPA needs a reflection language model" });
    if (input.optimizer !== "GEPA" && input.reflectionLanguageModelId != null) early.push({ path: "input.reflectionLanguageModelId", reason: "only GEPA takes a reflection language model" });
    if (early.length > 0) throw AppError.fromIssues(early);

    const program = await this.programs.require(scope, input.programId, "input.programId");
    if (!program.languageModelId) throw AppError.badInput("input.programId", "the program has no language model; set one with updateProgram(languageModelId)");
    // A spent budget refuses it before anything is written (BUDGET_EXCEEDED).
    await this.budgets?.check(scope.tenantId, program.languageModelId, "input.programId");
    const versionId = input.versionId ?? program.currentVersionId;
    const version = versionId ? await this.programs.getVersion(scope, versionId) : null;
    if (!version || version.programId !== program.id) throw new AppError("NOT_FOUND", `input.versionId: version '${versionId}' of program '${program.id}' not found`, { path: "input.versionId" });
    const dataset = await this.datasets.get(scope, input.datasetId);
    if (!dataset) throw new AppError("NOT_FOUND", `input.datasetId: dataset '${input.datasetId}' not found`, { path: "input.datasetId" });
    if (input.reflectionLanguageModelId != null) await this.languageModels.require(scope, input.reflectionLanguageModelId, "input.reflectionLanguageModelId");

    const normalized = programOf(version);
    const sets: { split: ExampleSplit; path: string }[] = [{ split: input.trainSplit, path: "input.trainSplit" }];
    if (input.devSplit != null) sets.push({ split: input.devSplit, path: "input.devSplit" });
    const all = [];
    const sizes: number[] = [];
    for (const { split, path } of sets) {
      const examples = await examplesOf(this.database.manager, scope.tenantId, dataset.id, split);
      if (examples.length === 0) throw AppError.badInput(path, `dataset '${dataset.name}' has no examples in the ${split} split`);
      if (examples.length > MAX_EXAMPLES) throw AppError.badInput(path, `an optimization takes at most ${MAX_EXAMPLES} examples per split; the ${split} split has more`);
      const issues: IssueDetail[] = [];
      for (const [i, example] of examples.entries()) {
        for (const found of validateProgramInputs(normalized, example.inputs, "inputs")) issues.push({ path: "input.datasetId", reason: `example ${i + 1} of the ${split} split (${example.id}): ${found.path}: ${found.reason}` });
        for (const name of Object.keys(example.labels)) {
          if (Object.hasOwn(example.inputs, name)) issues.push({ path: "input.datasetId", reason: `example ${i + 1} of the ${split} split (${example.id}): label '${name}' has the name of an input` });
        }
        if (issues.length >= 20) break;
      }
      if (issues.length > 0) throw AppError.fromIssues(issues);
      all.push(...examples);
      sizes.push(examples.length);
    }
    const sized = validateOptimizerConfig(input.optimizer, input.config ?? {}, "input.config", sizes[0], sizes[1]);
    if (sized.length > 0) throw AppError.fromIssues(sized);
    const metric = await resolveMetric(scope, input.metric, this.programs);
    const metricIssues = validateMetric(metric, { outputs: Object.keys(normalized.outputs), labels: commonLabels(all), inputs: Object.keys(normalized.inputs), root: "input.metric", judgeLmKey: "languageModelId" });
    if (metricIssues.length > 0) throw AppError.fromIssues(metricIssues);
    if (metric.judge) await this.languageModels.require(scope, metric.judge.languageModelId, "input.metric.judge.languageModelId");

    const fields = {
      id: newId(),
      tenantId: scope.tenantId,
      programId: program.id,
      programVersionId: version.id,
      datasetId: dataset.id,
      languageModelId: program.languageModelId,
      reflectionLanguageModelId: input.reflectionLanguageModelId ?? null,
      optimizer: input.optimizer,
      config: input.config ?? {},
      trainSplit: input.trainSplit,
      devSplit: input.devSplit ?? null,
      metric: metric as unknown as Record<string, unknown>,
      seed: input.seed ?? null,
      phase: null,
      metricCalls: 0,
      trials: 0,
      bestScore: null,
      score: null,
      resultVersionId: null,
      error: null,
      queuedAt: new Date(),
      startedAt: null,
      leaseExpiresAt: null,
      finishedAt: null,
      usage: null,
      cost: null,
    } satisfies NewOptimization;
    return fields;
  }

  /** Persists a prepared optimization as PENDING (audited) and queues its job. */
  private async persist(scope: Scope, fields: NewOptimization): Promise<Optimization> {
    const created = await this.database.transaction(async (manager) => {
      const optimization = await this.stateMachine.create(fields, manager);
      await AuditLog.record(manager, scope, { action: "optimization.create", entityType: "Optimization", entityId: optimization.id, after: AuditLog.snapshot(optimization, AUDITED_ON_CREATE) });
      return optimization;
    });
    this.stateMachine.publishCreated(created);
    try {
      await this.queue.enqueueOptimization({ optimizationId: created.id, tenantId: created.tenantId });
      return created;
    } catch (cause) {
      const message = "the job could not be queued; optimize again once the job store is reachable";
      const failed = await this.stateMachine.transition({
        from: created,
        to: FAILED,
        changes: { error: { code: "ENQUEUE_FAILED", layer: "scheduler", message, retriable: true, details: { cause: String(cause) } }, finishedAt: new Date() },
      });
      return failed ?? created;
    }
  }

  /** PENDING → CANCELLED; RUNNING → CANCELLED, and the runner then sends its worker `cancel`. */
  async cancel(scope: Scope, id: string): Promise<Optimization> {
    for (;;) {
      const current = await this.require(scope, id, "id");
      if (current.status !== PENDING && current.status !== RUNNING) {
        throw new AppError("ILLEGAL_TRANSITION", `id: optimization '${id}' is ${current.status}; only PENDING or RUNNING optimizations can be cancelled`, { path: "id" });
      }
      const cancelled = await this.stateMachine.transition({ from: current, to: CANCELLED, changes: { finishedAt: new Date() }, audit: { scope, action: "optimization.cancel" } });
      if (cancelled) return cancelled;
    }
  }
}

