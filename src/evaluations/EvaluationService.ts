import type { BudgetService } from "../budgets/BudgetService.js";
import { programOf } from "../programs/programOf.js";
import type { EntityManager } from "typeorm";
import { Evaluation, Example, ExampleSplit, ExecutionStatus } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { findInScope, requireInScope } from "../db/scoped.js";
import type { DatasetService } from "../datasets/DatasetService.js";
import { AppError, type IssueDetail } from "../errors.js";
import { isId, newId } from "../ids.js";
import type { LanguageModelService } from "../languageModels/LanguageModelService.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import type { ProgramService } from "../programs/ProgramService.js";
import { validateProgramInputs } from "../programs/validateProgramInputs.js";
import type { Scope } from "../scope.js";
import type { EvaluationStateMachine, NewEvaluation } from "./EvaluationStateMachine.js";
import { resolveMetric, type MetricRequest } from "./judge.js";
import { commonLabels, validateMetric } from "./metrics.js";

/** A metric as stored and run: a judge is a definition with its LM (and, when it came from a stored program, that program's id and version). */
export interface MetricInput {
  kind: string;
  output: string;
  label: string;
  tolerance?: number | null;
  judge?: { definition: unknown; languageModelId: string; score: string; inputs: Record<string, unknown>; programId?: string; versionId?: string } | null;
}

export interface EvaluateProgram {
  versionId: string;
  datasetId: string;
  split: ExampleSplit;
  metric: MetricRequest;
  numThreads?: number | null;
}

/** Where evaluations are queued (Agenda's `evaluate-program` job). */
export interface EvaluationQueue {
  enqueueEvaluation(job: { evaluationId: string; tenantId: string }): Promise<void>;
}

/** dspy.Evaluate's thread bound, and how many examples one evaluation may take (PROTOCOL.md). */
export const MAX_THREADS = 32;
export const MAX_EXAMPLES = 10_000;
const { PENDING, RUNNING, FAILED, CANCELLED } = ExecutionStatus;
const AUDITED_ON_CREATE = ["programId", "programVersionId", "datasetId", "languageModelId", "split", "metric", "numThreads", "status"] as const;

/** Queues evaluations, cancels them, and answers questions about them. */
export class EvaluationService {
  constructor(
    private readonly database: Database,
    private readonly programs: ProgramService,
    private readonly datasets: DatasetService,
    private readonly languageModels: LanguageModelService,
    private readonly stateMachine: EvaluationStateMachine,
    private readonly queue: EvaluationQueue,
    private readonly budgets?: Pick<BudgetService, "check">,
  ) {}

  get(scope: Scope, id: string): Promise<Evaluation | null> {
    return findInScope(this.database.manager, Evaluation, scope, id);
  }

  require(scope: Scope, id: string, path: string): Promise<Evaluation> {
    return requireInScope(this.database.manager, Evaluation, scope, id, path, "evaluation");
  }

  list(scope: Scope, programId: string | null | undefined, page: PageArgs): Promise<Page<Evaluation>> {
    const query = this.database.manager.createQueryBuilder(Evaluation, "e").where("e.tenantId = :tenantId", { tenantId: scope.tenantId });
    if (programId != null) query.andWhere("e.programId = :programId", { programId: isId(programId) ? programId : "" });
    return paginate(query, page);
  }

  /**
   * Checks everything (ids, the split's examples against the program, the metric against the
   * program's outputs and the examples' labels) before writing anything; then persists the
   * evaluation as PENDING (audited) and queues its job.
   */
  async evaluate(scope: Scope, input: EvaluateProgram): Promise<Evaluation> {
    const early: IssueDetail[] = [];
    if (!Object.values(ExampleSplit).includes(input.split)) early.push({ path: "input.split", reason: `must be one of ${Object.values(ExampleSplit).join(", ")}` });
    const threads = input.numThreads;
    if (threads != null && (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS)) early.push({ path: "input.numThreads", reason: `must be an integer from 1 to ${MAX_THREADS}` });
    if (early.length > 0) throw AppError.fromIssues(early);

    const version = await this.programs.getVersion(scope, input.versionId);
    if (!version) throw new AppError("NOT_FOUND", `input.versionId: program version '${input.versionId}' not found`, { path: "input.versionId" });
    const program = await this.programs.require(scope, version.programId, "input.versionId");
    if (!program.languageModelId) throw AppError.badInput("input.versionId", "the program has no language model; set one with updateProgram(languageModelId)");
    // A spent budget refuses it before anything is written (BUDGET_EXCEEDED).
    await this.budgets?.check(scope.tenantId, program.languageModelId, "input.versionId");
    const dataset = await this.datasets.get(scope, input.datasetId);
    if (!dataset) throw new AppError("NOT_FOUND", `input.datasetId: dataset '${input.datasetId}' not found`, { path: "input.datasetId" });
    const examples = await examplesOf(this.database.manager, scope.tenantId, dataset.id, input.split);
    if (examples.length === 0) throw AppError.badInput("input.split", `dataset '${dataset.name}' has no examples in the ${input.split} split`);
    if (examples.length > MAX_EXAMPLES) throw AppError.badInput("input.split", `an evaluation takes at most ${MAX_EXAMPLES} examples; the ${input.split} split has more`);

    const normalized = programOf(version);
    const issues: IssueDetail[] = [];
    for (const [i, example] of examples.entries()) {
      for (const found of validateProgramInputs(normalized, example.inputs, "inputs")) {
        issues.push({ path: "input.datasetId", reason: `example ${i + 1} of the ${input.split} split (${example.id}): ${found.path}: ${found.reason}` });
      }
      for (const name of Object.keys(example.labels)) {
        if (Object.hasOwn(example.inputs, name)) issues.push({ path: "input.datasetId", reason: `example ${i + 1} of the ${input.split} split (${example.id}): label '${name}' has the name of an input` });
      }
      if (issues.length >= 20) break;
    }
    if (issues.length > 0) throw AppError.fromIssues(issues);
    const metric = await resolveMetric(scope, input.metric, this.programs);
    const metricIssues = validateMetric(metric, {
      outputs: Object.keys(normalized.outputs),
      labels: commonLabels(examples),
      inputs: Object.keys(normalized.inputs),
      root: "input.metric",
      judgeLmKey: "languageModelId",
    });
    if (metricIssues.length > 0) throw AppError.fromIssues(metricIssues);
    if (metric.judge) {
      const judgeLm = await this.languageModels.get(scope, metric.judge.languageModelId);
      if (!judgeLm) throw new AppError("NOT_FOUND", `input.metric.judge.languageModelId: language model '${metric.judge.languageModelId}' not found`, { path: "input.metric.judge.languageModelId" });
    }

    const fields = {
      id: newId(),
      tenantId: scope.tenantId,
      programId: program.id,
      programVersionId: version.id,
      datasetId: dataset.id,
      languageModelId: program.languageModelId,
      split: input.split,
      metric: metric as unknown as Record<string, unknown>,
      numThreads: threads ?? null,
      score: null,
      results: null,
      progressDone: 0,
      progressTotal: examples.length,
      error: null,
      queuedAt: new Date(),
      startedAt: null,
      leaseExpiresAt: null,
      finishedAt: null,
      usage: null,
      cost: null,
    } satisfies NewEvaluation;
    const created = await this.database.transaction(async (manager) => {
      const evaluation = await this.stateMachine.create(fields, manager);
      await AuditLog.record(manager, scope, {
        action: "evaluation.create",
        entityType: "Evaluation",
        entityId: evaluation.id,
        after: AuditLog.snapshot(evaluation, AUDITED_ON_CREATE),
      });
      return evaluation;
    });
    this.stateMachine.publishCreated(created);
    try {
      await this.queue.enqueueEvaluation({ evaluationId: created.id, tenantId: created.tenantId });
      return created;
    } catch (cause) {
      const message = "the job could not be queued; evaluate again once the job store is reachable";
      const failed = await this.stateMachine.transition({
        from: created,
        to: FAILED,
        changes: { error: { code: "ENQUEUE_FAILED", layer: "scheduler", message, retriable: true, details: { cause: String(cause) } }, finishedAt: new Date() },
      });
      return failed ?? created;
    }
  }

  /**
   * PENDING → CANCELLED; RUNNING → CANCELLED, and the runner then sends its worker `cancel` (at
   * once on this instance, through the bus; on another instance at its next progress report).
   */
  async cancel(scope: Scope, id: string): Promise<Evaluation> {
    for (;;) {
      const current = await this.require(scope, id, "id");
      if (current.status !== PENDING && current.status !== RUNNING) {
        throw new AppError("ILLEGAL_TRANSITION", `id: evaluation '${id}' is ${current.status}; only PENDING or RUNNING evaluations can be cancelled`, { path: "id" });
      }
      const cancelled = await this.stateMachine.transition({ from: current, to: CANCELLED, changes: { finishedAt: new Date() }, audit: { scope, action: "evaluation.cancel" } });
      if (cancelled) return cancelled;
    }
  }
}

/** The examples an evaluation runs on, in a stable order (at most MAX_EXAMPLES + 1, to tell "too many"). */
export function examplesOf(manager: EntityManager, tenantId: string, datasetId: string, split: ExampleSplit): Promise<Example[]> {
  return manager.find(Example, { where: { tenantId, datasetId, split }, order: { createdAt: "ASC", id: "ASC" }, take: MAX_EXAMPLES + 1 });
}
