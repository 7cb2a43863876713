import { GraphQLJSON, GraphQLJSONObject } from "../../src/graphql/scalars.js";
import { Field, Float, ID, InputType, Int } from "type-graphql";
import { ExampleSplit } from "../../entities/index.js";

@InputType({
  description: "An lm_judge metric's judge: a stored program (`programId`: its current version and language model), or a definition with a `languageModelId`; `score` names its bool/int/float output.",
})
export class MetricJudgeInput {
  @Field(() => ID, { nullable: true, description: "A stored program to judge with (instead of definition and languageModelId)." }) programId?: string | null;
  @Field(() => GraphQLJSON, { nullable: true, description: "A program definition (see createProgram)." }) definition?: unknown;
  @Field(() => ID, { nullable: true }) languageModelId?: string | null;
  @Field() score!: string;
  @Field(() => GraphQLJSONObject, { description: "Each judge input from `input.<field>`, `output.<field>` or `label.<field>`." }) inputs!: Record<string, unknown>;
}

@InputType({ description: "A declarative metric (no user code): scores 0–1 per example." })
export class MetricInput {
  @Field({ description: "exact_match, normalized_exact_match, contains, token_f1, numeric, passage_match or lm_judge." }) kind!: string;
  @Field({ description: "An output field of the program version." }) output!: string;
  @Field({ description: "A label field every example of the split has." }) label!: string;
  @Field(() => Float, { nullable: true, description: "numeric only: |output − label| <= tolerance (default 0)." }) tolerance?: number | null;
  @Field(() => MetricJudgeInput, { nullable: true, description: "lm_judge only." }) judge?: MetricJudgeInput | null;
}

@InputType({ description: "Evaluates a program version on one split of a dataset (dspy.Evaluate, as a queued job)." })
export class EvaluateProgramInput {
  @Field(() => ID) versionId!: string;
  @Field(() => ID) datasetId!: string;
  @Field(() => ExampleSplit) split!: ExampleSplit;
  @Field(() => MetricInput) metric!: MetricInput;
  @Field(() => Int, { nullable: true, description: "dspy.Evaluate's threads, 1–32 (default 1)." }) numThreads?: number | null;
}
