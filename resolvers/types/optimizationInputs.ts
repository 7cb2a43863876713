import { GraphQLJSONObject } from "../../src/graphql/scalars.js";
import { Field, ID, InputType, Int } from "type-graphql";
import { ExampleSplit, Optimizer, SchedulePromotion } from "../../entities/index.js";
import { MetricInput } from "./evaluationInputs.js";

@InputType({ description: "Runs a DSPy optimizer on a program version (the current one by default), as a queued job." })
export class OptimizeProgramInput {
  @Field(() => ID) programId!: string;
  @Field(() => ID, { nullable: true, description: "The version to optimize; the program's current one by default." }) versionId?: string | null;
  @Field(() => Optimizer) optimizer!: Optimizer;
  @Field(() => GraphQLJSONObject, { nullable: true, description: "The optimizer's settings; each optimizer takes only its own keys (README: Optimizations)." }) config?: Record<string, unknown> | null;
  @Field(() => ID) datasetId!: string;
  @Field(() => ExampleSplit, { description: "The examples the optimizer learns from." }) trainSplit!: ExampleSplit;
  @Field(() => ExampleSplit, { nullable: true, description: "The examples the result is scored on (and MIPROv2 / GEPA validate on); null: the train split." }) devSplit?: ExampleSplit | null;
  @Field(() => MetricInput) metric!: MetricInput;
  @Field(() => ID, { nullable: true, description: "GEPA only (and required there): the LM that reflects on failures." }) reflectionLanguageModelId?: string | null;
  @Field(() => Int, { nullable: true, description: "MIPRO_V2, SIMBA and GEPA's random seed." }) seed?: number | null;
}

@InputType({ description: "A DSPy save() JSON to import as a new version of a program." })
export class ImportProgramVersionInput {
  @Field(() => ID) programId!: string;
  @Field(() => GraphQLJSONObject, { description: "Exactly what DSPy's module.save(\"x.json\") writes (ProgramVersion.dspyState)." }) dspyState!: Record<string, unknown>;
  @Field(() => ID, { nullable: true, description: "The version whose definition it must fit (and the new version takes); the current one by default." }) versionId?: string | null;
}

@InputType({ description: "A recurring optimization: optimizeProgram's input (always the program's current version) on a cron schedule, with a promotion policy." })
export class ScheduleOptimizationInput {
  @Field(() => ID) programId!: string;
  @Field({ description: "Cron expression: 5 fields, or 6 with seconds first (e.g. \"0 3 * * 1\": Mondays at 03:00)." }) cron!: string;
  @Field(() => String, { nullable: true, description: "IANA time zone the cron expression is in; null: UTC." }) timezone?: string | null;
  @Field(() => SchedulePromotion, { nullable: true, description: "What a COMPLETED run's version becomes; IF_BETTER by default." }) promote?: SchedulePromotion | null;
  @Field(() => Optimizer) optimizer!: Optimizer;
  @Field(() => GraphQLJSONObject, { nullable: true }) config?: Record<string, unknown> | null;
  @Field(() => ID) datasetId!: string;
  @Field(() => ExampleSplit) trainSplit!: ExampleSplit;
  @Field(() => ExampleSplit, { nullable: true }) devSplit?: ExampleSplit | null;
  @Field(() => MetricInput) metric!: MetricInput;
  @Field(() => ID, { nullable: true }) reflectionLanguageModelId?: string | null;
  @Field(() => Int, { nullable: true }) seed?: number | null;
}
