import type { EntityManager } from "typeorm";
import { LanguageModel } from "../../entities/index.js";
import type { MetricSpec } from "../adapters/DspyAdapter.js";
import { AppError } from "../errors.js";
import { normalizeDefinition } from "../programs/programOf.js";
import type { ProgramService } from "../programs/ProgramService.js";
import type { Scope } from "../scope.js";
import type { MetricInput } from "./EvaluationService.js";

/** An lm_judge metric's judge as a request gives it: a stored program, or a definition with its LM. */
export interface JudgeRequest {
  programId?: string | null;
  definition?: unknown;
  languageModelId?: string | null;
  score: string;
  inputs: Record<string, unknown>;
}

export interface MetricRequest extends Omit<MetricInput, "judge"> {
  judge?: JudgeRequest | null;
}

/**
 * The metric as it is stored and run: only its own keys, and a judge given as a stored program
 * replaced by that program's current definition and LM (its id and version kept), so the run does
 * not change when the judge program does. Checking the result is validateMetric's job.
 */
export async function resolveMetric(scope: Scope, metric: MetricRequest, programs: ProgramService): Promise<MetricInput> {
  const resolved: MetricInput = { kind: metric.kind, output: metric.output, label: metric.label };
  if (metric.tolerance != null) resolved.tolerance = metric.tolerance;
  const judge = metric.judge;
  if (judge != null) {
    const { score, inputs } = judge;
    if (judge.programId == null) {
      resolved.judge = { definition: judge.definition, languageModelId: judge.languageModelId ?? "", score, inputs };
    } else {
      if (judge.definition != null || judge.languageModelId != null) {
        throw AppError.badInput("input.metric.judge", "give either programId (a stored judge program) or definition and languageModelId, not both");
      }
      const program = await programs.require(scope, judge.programId, "input.metric.judge.programId");
      const version = program.currentVersionId ? await programs.getVersion(scope, program.currentVersionId) : null;
      if (!version) throw new AppError("NOT_FOUND", `input.metric.judge.programId: program '${program.id}' has no current version`, { path: "input.metric.judge.programId" });
      if (!program.languageModelId) throw AppError.badInput("input.metric.judge.programId", "the judge program has no language model; set one with updateProgram(languageModelId)");
      resolved.judge = { definition: version.definition, languageModelId: program.languageModelId, score, inputs, programId: program.id, versionId: version.id };
    }
  }
  return resolved;
}

/** A stored metric as the adapter runs it: the judge's language model loaded as it is now. */
export async function metricSpecFor(manager: EntityManager, metric: MetricInput, tenantId: string): Promise<MetricSpec> {
  const spec: MetricSpec = { kind: metric.kind as MetricSpec["kind"], output: metric.output, label: metric.label };
  if (metric.tolerance != null) spec.tolerance = metric.tolerance;
  if (metric.judge) {
    const lm = await manager.findOneBy(LanguageModel, { id: metric.judge.languageModelId, tenantId });
    if (!lm) throw new AppError("NOT_FOUND", `the judge's language model '${metric.judge.languageModelId}' no longer exists`, { layer: "storage" });
    spec.judge = { program: normalizeDefinition(metric.judge.definition), lm, score: metric.judge.score, inputs: metric.judge.inputs as Record<string, string> };
  }
  return spec;
}
