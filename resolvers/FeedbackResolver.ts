import { GraphQLDateTimeISO } from "graphql-scalars";
import { Arg, Authorized, Ctx, Field, FieldResolver, Float, ID, InputType, Int, Mutation, ObjectType, Resolver, Root } from "type-graphql";
import { Dataset, Example, ExampleSplit, Execution, Feedback } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { GraphQLJSONObject } from "../src/graphql/scalars.js";

@InputType()
export class SubmitFeedbackInput {
  @Field(() => ID) executionId!: string;
  @Field(() => Float, { description: "0 (bad) to 1 (good)." }) score!: number;
  @Field(() => String, { nullable: true, description: "Up to 10,000 characters." }) comment?: string | null;
  @Field(() => GraphQLJSONObject, { nullable: true, description: "What it should have answered: some or all of the program's outputs, each of its type." }) correctedOutputs?: Record<string, unknown> | null;
}

@InputType()
export class AddExamplesFromFeedbackInput {
  @Field(() => ID) datasetId!: string;
  @Field(() => ID, { description: "The program whose executions' feedback is used." }) programId!: string;
  @Field(() => Float, { nullable: true, description: "Only feedback scored at least this (0–1)." }) minScore?: number | null;
  @Field(() => Float, { nullable: true, description: "Only feedback scored at most this (0–1)." }) maxScore?: number | null;
  @Field(() => GraphQLDateTimeISO, { nullable: true, description: "Only feedback given or edited since then." }) since?: Date | null;
  @Field(() => ExampleSplit, { nullable: true, description: "Defaults to TRAIN." }) split?: ExampleSplit | null;
  @Field(() => Int, { nullable: true, description: "At most this many examples (1–1000, default 1000); the rest are left for the next call." }) limit?: number | null;
}

@ObjectType()
export class AddExamplesFromFeedbackPayload {
  @Field(() => Dataset) dataset!: Dataset;
  @Field(() => [Example], { description: "The examples added: the execution's inputs, and its outputs with the corrections over them as labels." }) examples!: Example[];
  @Field(() => Int, { description: "Corrected feedback left out because it is already an example of this dataset." }) skipped!: number;
}

@Authorized(Role.VIEWER)
@Resolver(() => Feedback)
export class FeedbackResolver {
  @Authorized(Role.RUNNER)
  @Mutation(() => Feedback, {
    description: "The caller's feedback on a finished (COMPLETED or FAILED) execution: one per execution and caller; given again, it replaces the earlier one. Audited as feedback.create / feedback.update.",
  })
  submitFeedback(@Arg("input", () => SubmitFeedbackInput) input: SubmitFeedbackInput, @Ctx() ctx: GraphQLContext): Promise<Feedback> {
    return ctx.services.feedback.submit(ctx.scope, input);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => AddExamplesFromFeedbackPayload, {
    description: "Turns a program's corrected executions (feedback with correctedOutputs) into examples of a dataset, each feedback at most once per dataset: the closed loop from production to optimization. Audited as dataset.addExamples.",
  })
  addExamplesFromFeedback(@Arg("input", () => AddExamplesFromFeedbackInput) input: AddExamplesFromFeedbackInput, @Ctx() ctx: GraphQLContext): Promise<AddExamplesFromFeedbackPayload> {
    return ctx.services.feedback.toExamples(ctx.scope, input);
  }
}

@Authorized(Role.VIEWER)
@Resolver(() => Execution)
export class ExecutionFeedbackField {
  @FieldResolver(() => [Feedback], { description: "Feedback callers gave on it (submitFeedback), oldest first." })
  feedback(@Root() execution: Execution, @Ctx() ctx: GraphQLContext): Promise<Feedback[]> {
    return ctx.services.feedback.of(ctx.scope, execution.id);
  }
}
