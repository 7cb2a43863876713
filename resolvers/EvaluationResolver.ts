import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, Subscription } from "type-graphql";
import { Dataset, Evaluation, EvaluationProgress, LanguageModel, Program, ProgramVersion } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import { EVALUATION_UPDATED, type EvaluationUpdate, isLater } from "../src/evaluations/EvaluationEvents.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { filtered, listen } from "../src/pubsub.js";
import { type ConnectionShape, toConnection } from "./types/connection.js";
import { EvaluationConnection } from "./types/connections.js";
import { EvaluateProgramInput } from "./types/evaluationInputs.js";

@Authorized(Role.VIEWER)
@Resolver(() => Evaluation)
export class EvaluationResolver {
  @Authorized(Role.VIEWER)
  @Query(() => Evaluation, { nullable: true })
  evaluation(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Evaluation | null> {
    return ctx.services.evaluations.get(ctx.scope, id);
  }

  @Authorized(Role.VIEWER)
  @Query(() => EvaluationConnection, { description: "Evaluations (of one program, when given), oldest first." })
  async evaluations(
    @Ctx() ctx: GraphQLContext,
    @Arg("programId", () => ID, { nullable: true }) programId?: string,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ): Promise<ConnectionShape<Evaluation>> {
    return toConnection(await ctx.services.evaluations.list(ctx.scope, programId, { first, after }));
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => Evaluation, {
    description: "Queues dspy.Evaluate of a program version on a dataset split (PENDING). Everything is checked first: a bad metric, id or split writes nothing.",
  })
  evaluateProgram(@Arg("input", () => EvaluateProgramInput) input: EvaluateProgramInput, @Ctx() ctx: GraphQLContext): Promise<Evaluation> {
    return ctx.services.evaluations.evaluate(ctx.scope, input);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => Evaluation, { description: "PENDING or RUNNING → CANCELLED; a running evaluation's worker is told to stop." })
  cancelEvaluation(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Evaluation> {
    return ctx.services.evaluations.cancel(ctx.scope, id);
  }

  @Authorized(Role.VIEWER)
  @Subscription(() => Evaluation, {
    description: "The evaluation as it is now, then after every progress report and transition, in order. Fails with NOT_FOUND for an evaluation the caller cannot see.",
    subscribe: ({ args, context }) => currentThenUpdates(context as GraphQLContext, args.id as string),
  })
  evaluationUpdated(@Root() update: EvaluationUpdate, @Arg("id", () => ID) _id: string): Evaluation {
    return Object.assign(new Evaluation(), update.evaluation);
  }

  @FieldResolver(() => EvaluationProgress, { description: "Examples scored so far, of the split's examples." })
  progress(@Root() evaluation: Evaluation): EvaluationProgress {
    return { done: evaluation.progressDone, total: evaluation.progressTotal };
  }

  @FieldResolver(() => Program, { nullable: true })
  program(@Root() evaluation: Evaluation, @Ctx() ctx: GraphQLContext): Promise<Program | null> {
    return ctx.services.programs.get(ctx.scope, evaluation.programId);
  }

  @FieldResolver(() => ProgramVersion, { nullable: true })
  programVersion(@Root() evaluation: Evaluation, @Ctx() ctx: GraphQLContext): Promise<ProgramVersion | null> {
    return ctx.services.programs.getVersion(ctx.scope, evaluation.programVersionId);
  }

  @FieldResolver(() => Dataset, { nullable: true })
  dataset(@Root() evaluation: Evaluation, @Ctx() ctx: GraphQLContext): Promise<Dataset | null> {
    return ctx.services.datasets.get(ctx.scope, evaluation.datasetId);
  }

  @FieldResolver(() => LanguageModel, { nullable: true, description: "The LM chosen when the evaluation was queued." })
  languageModel(@Root() evaluation: Evaluation, @Ctx() ctx: GraphQLContext): Promise<LanguageModel | null> {
    return ctx.services.languageModels.get(ctx.scope, evaluation.languageModelId);
  }
}

@Authorized(Role.VIEWER)
@Resolver(() => Program)
export class ProgramEvaluationsResolver {
  @FieldResolver(() => EvaluationConnection, { description: "This program's evaluations, oldest first." })
  async evaluations(
    @Root() program: Program,
    @Ctx() ctx: GraphQLContext,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ): Promise<ConnectionShape<Evaluation>> {
    return toConnection(await ctx.services.evaluations.list(ctx.scope, program.id, { first, after }));
  }
}

/** Subscribes first, then reads the current state, so nothing falls between the two. */
async function currentThenUpdates(ctx: GraphQLContext, id: string): Promise<AsyncIterable<EvaluationUpdate>> {
  const updates = listen<EvaluationUpdate>(ctx.services.events, EVALUATION_UPDATED);
  try {
    const current = await ctx.services.evaluations.require(ctx.scope, id, "id");
    let seen: Evaluation = current;
    const first: EvaluationUpdate = { tenantId: current.tenantId, programId: current.programId, evaluation: current, kind: "transition" };
    return filtered(
      updates,
      (u) => {
        // Anything not later than what was already sent is part of it.
        if (u.tenantId !== current.tenantId || u.evaluation.id !== current.id || !isLater(u.evaluation, seen)) return false;
        seen = u.evaluation;
        return true;
      },
      first,
    );
  } catch (error) {
    await updates.return?.();
    throw error;
  }
}
