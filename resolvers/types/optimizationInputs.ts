import { GraphQLJSONObject } from "graphql-scalars";
import { Field, ID, InputType, Int } from "type-graphql";
import { ExampleSplit, Optimizer } from "../../entities/index.js";
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
