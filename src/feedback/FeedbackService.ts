import { EventEmitter } from "node:events";
import { In } from "typeorm";
import { Dataset, Example, ExampleSplit, Execution, ExecutionStatus, Feedback, ProgramVersion } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { insertRow, updateAtVersion, upsertOnce } from "../db/rows.js";
import { AppError } from "../errors.js";
import { isId, newId } from "../ids.js";
import { programOf } from "../programs/programOf.js";
import type { ProgramService } from "../programs/ProgramService.js";
import { validateProgramOutputs } from "../programs/validateProgramInputs.js";
import { SYSTEM_ACTOR, type Scope } from "../scope.js";
import { IssueList } from "../validation.js";

export interface SubmitFeedback {
  executionId: string;
  score: number;
  comment?: string | null;
  correctedOutputs?: Record<string, unknown> | null;
}

export interface FeedbackToExamples {
  datasetId: string;
  programId: string;
  /** Only feedback scored at least / at most this (0–1). */
  minScore?: number | null;
  maxScore?: number | null;
  /** Only feedback given (or last edited) since then. */
  since?: Date | null;
  split?: ExampleSplit | null;
  /** At most this many examples (1–1000, default 1000). */
  limit?: number | null;
}

const MAX_COMMENT = 10_000;
const MAX_EXAMPLES = 1_000;
const FINISHED: readonly ExecutionStatus[] = [ExecutionStatus.COMPLETED, ExecutionStatus.FAILED];

/**
 * Feedback on executions (README "Release management"): one per execution and caller, given again to
 * edit it; and examples made from the corrected ones, so that an optimization learns from what
 * production got wrong.
 */
export class FeedbackService extends EventEmitter<{ feedback: [Pick<Feedback, "programId" | "programVersionId" | "score">] }> {
  constructor(
    private readonly database: Database,
    private readonly programs: ProgramService,
  ) {
    super();
  }

  /** Creates the caller's feedback on a finished execution, or replaces it (audited feedback.create / feedback.update). */
  async submit(scope: Scope, input: SubmitFeedback): Promise<Feedback> {
    const issues = new IssueList();
    if (typeof input.score !== "number" || !Number.isFinite(input.score) || input.score < 0 || input.score > 1) issues.add("input.score", `must be a number from 0 (bad) to 1 (good), got ${input.score}`);
    issues.optionalText("input.comment", input.comment, MAX_COMMENT);
    if (!issues.empty) throw AppError.fromIssues(issues.issues);
    const execution = isId(input.executionId) ? await this.database.manager.findOneBy(Execution, { id: input.executionId, tenantId: scope.tenantId }) : null;
    if (!execution) throw new AppError("NOT_FOUND", `input.executionId: execution '${input.executionId}' not found`, { path: "input.executionId" });
    if (!FINISHED.includes(execution.status)) throw AppError.badInput("input.executionId", `feedback is for finished executions (COMPLETED or FAILED); this one is ${execution.status}`);
    if (input.correctedOutputs != null) {
      const version = await this.database.manager.findOneByOrFail(ProgramVersion, { id: execution.programVersionId, tenantId: scope.tenantId });
      const outputIssues = validateProgramOutputs(programOf(version), input.correctedOutputs, "input.correctedOutputs");
      if (outputIssues.length > 0) throw AppError.fromIssues(outputIssues);
    }
    const subject = (scope.actor ?? SYSTEM_ACTOR).subject;
    const fields = { score: input.score, comment: input.comment ?? null, correctedOutputs: input.correctedOutputs ?? null };
    // The same caller twice at once: the second replaces the first.
    const stored = await upsertOnce(() => this.write(scope, execution, subject, fields));
    this.emit("feedback", stored);
    return stored;
  }

  /** The feedback on one execution, oldest first. */
  of(scope: Scope, executionId: string): Promise<Feedback[]> {
    return this.database.manager.find(Feedback, { where: { tenantId: scope.tenantId, executionId }, order: { createdAt: "ASC", id: "ASC" } });
  }

  /**
   * Examples from the corrected executions of a program (feedback with correctedOutputs): the
   * execution's inputs, and as labels its outputs with the corrections over them. A feedback already
   * made into an example of this dataset is skipped. Audited as dataset.addExamples.
   */
  async toExamples(scope: Scope, input: FeedbackToExamples): Promise<{ dataset: Dataset; examples: Example[]; skipped: number }> {
    const issues = new IssueList();
    for (const key of ["minScore", "maxScore"] as const) {
      const value = input[key];
      if (value != null && (!Number.isFinite(value) || value < 0 || value > 1)) issues.add(`input.${key}`, `must be from 0 to 1, got ${value}`);
    }
    if (input.minScore != null && input.maxScore != null && input.minScore > input.maxScore) issues.add("input.maxScore", `must be at least minScore (${input.minScore})`);
    const limit = input.limit ?? MAX_EXAMPLES;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EXAMPLES) issues.add("input.limit", `must be a whole number from 1 to ${MAX_EXAMPLES}, got ${limit}`);
    if (!issues.empty) throw AppError.fromIssues(issues.issues);
    const program = await this.programs.require(scope, input.programId, "input.programId");
    return this.database.transaction(async (manager) => {
      const dataset = isId(input.datasetId) ? await manager.findOneBy(Dataset, { id: input.datasetId, tenantId: scope.tenantId }) : null;
      if (!dataset) throw new AppError("NOT_FOUND", `input.datasetId: dataset '${input.datasetId}' not found`, { path: "input.datasetId" });
      const query = manager
        .createQueryBuilder(Feedback, "f")
        .where("f.tenantId = :tenantId AND f.programId = :programId AND f.correctedOutputs IS NOT NULL", { tenantId: scope.tenantId, programId: program.id });
      if (input.minScore != null) query.andWhere("f.score >= :minScore", { minScore: input.minScore });
      if (input.maxScore != null) query.andWhere("f.score <= :maxScore", { maxScore: input.maxScore });
      if (input.since != null) query.andWhere("f.updatedAt >= :since", { since: input.since });
      const feedback = await query.orderBy("f.updatedAt", "ASC").addOrderBy("f.id", "ASC").getMany();
      const made = new Set<string>();
      for (let i = 0; i < feedback.length; i += 500) {
        const ids = feedback.slice(i, i + 500).map((f) => f.id);
        for (const example of await manager.find(Example, { select: { feedbackId: true }, where: { tenantId: scope.tenantId, datasetId: dataset.id, feedbackId: In(ids) } })) made.add(example.feedbackId!);
      }
      const fresh = feedback.filter((f) => !made.has(f.id)).slice(0, limit);
      const executions = new Map<string, Execution>();
      for (let i = 0; i < fresh.length; i += 500) {
        for (const execution of await manager.find(Execution, { select: { id: true, inputs: true, outputs: true }, where: { tenantId: scope.tenantId, id: In(fresh.slice(i, i + 500).map((f) => f.executionId)) } })) executions.set(execution.id, execution);
      }
      const countBefore = await manager.countBy(Example, { tenantId: scope.tenantId, datasetId: dataset.id });
      const examples: Example[] = [];
      for (const f of fresh) {
        const execution = executions.get(f.executionId)!;
        examples.push(
          Object.assign(new Example(), {
            id: newId(),
            tenantId: scope.tenantId,
            datasetId: dataset.id,
            inputs: execution.inputs,
            labels: { ...(execution.outputs ?? {}), ...f.correctedOutputs },
            split: input.split ?? ExampleSplit.TRAIN,
            feedbackId: f.id,
          }),
        );
      }
      if (examples.length > 0) await manager.save(examples, { chunk: 100 });
      await AuditLog.record(manager, scope, { action: "dataset.addExamples", entityType: "Dataset", entityId: dataset.id, before: { exampleCount: countBefore }, after: { exampleCount: countBefore + examples.length, fromFeedbackOf: program.id } });
      return { dataset, examples, skipped: made.size };
    });
  }

  private async write(scope: Scope, execution: Execution, subject: string, fields: Pick<Feedback, "score" | "comment" | "correctedOutputs">): Promise<Feedback> {
    return this.database.transaction(async (manager) => {
      const existing = await manager.findOneBy(Feedback, { tenantId: scope.tenantId, executionId: execution.id, subject });
      const audited = ["score", "comment", "correctedOutputs"];
      if (existing) {
        if (!(await updateAtVersion(manager, Feedback, existing.id, existing.version, fields))) throw AppError.conflict("this feedback was changed concurrently; retry", "input.executionId");
      } else {
        await insertRow(manager, Feedback, { id: newId(), tenantId: scope.tenantId, executionId: execution.id, programId: execution.programId, programVersionId: execution.programVersionId, subject, ...fields, version: 1 });
      }
      const stored = await manager.findOneByOrFail(Feedback, { tenantId: scope.tenantId, executionId: execution.id, subject });
      await AuditLog.record(manager, scope, {
        action: existing ? "feedback.update" : "feedback.create",
        entityType: "Feedback",
        entityId: stored.id,
        before: existing ? AuditLog.snapshot(existing, audited) : null,
        after: AuditLog.snapshot(stored, audited),
      });
      return stored;
    });
  }
}
