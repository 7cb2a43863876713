import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, Subscription } from "type-graphql";
import { Dataset, Optimization, OptimizationProgress, LanguageModel, Program, ProgramVersion } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import { OPTIMIZATION_UPDATED, type OptimizationUpdate, isLater } from "../src/optimizations/OptimizationEvents.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { filtered, listen } from "../src/pubsub.js";
import { type ConnectionShape, toConnection } from "./types/connection.js";
import { OptimizationConnection } from "./types/connections.js";
import { OptimizeProgramInput } from "./types/optimizationInputs.js";

@Authorized(Role.VIEWER)
@Resolver(() => Optimization)
export class OptimizationResolver {
  @Authorized(Role.VIEWER)
  @Query(() => Optimization, { nullable: true })
  optimization(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Optimization | null> {
    return ctx.services.optimizations.get(ctx.scope, id);
  }

  @Authorized(Role.VIEWER)
  @Query(() => OptimizationConnection, { description: "Optimizations (of one program, when given), oldest first." })
  async optimizations(
    @Ctx() ctx: GraphQLContext,
    @Arg("programId", () => ID, { nullable: true }) programId?: string,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ): Promise<ConnectionShape<Optimization>> {
    return toConnection(await ctx.services.optimizations.list(ctx.scope, programId, { first, after }));
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => Optimization, {
    description:
      "Queues a DSPy optimizer on a program version (PENDING). Everything is checked first (ids, splits, the optimizer's config, the metric, GEPA's reflection LM): a bad input writes nothing. COMPLETED creates a new version, not current (promoteProgramVersion).",
  })
  optimizeProgram(@Arg("input", () => OptimizeProgramInput) input: OptimizeProgramInput, @Ctx() ctx: GraphQLContext): Promise<Optimization> {
    return ctx.services.optimizations.optimize(ctx.scope, input);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => Optimization, { description: "PENDING or RUNNING → CANCELLED; a running optimization's worker is told to stop." })
  cancelOptimization(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Optimization> {
    return ctx.services.optimizations.cancel(ctx.scope, id);
  }

  @Authorized(Role.VIEWER)
  @Subscription(() => Optimization, {
    description: "The optimization as it is now, then after every progress report and transition, in order. Fails with NOT_FOUND for an optimization the caller cannot see.",
    subscribe: ({ args, context }) => currentThenUpdates(context as GraphQLContext, args.id as string),
  })
  optimizationUpdated(@Root() update: OptimizationUpdate, @Arg("id", () => ID) _id: string): Optimization {
    return Object.assign(new Optimization(), update.optimization);
  }

  @FieldResolver(() => OptimizationProgress, { description: "Phase, metric calls, scored trials and the best trial's score so far." })
  progress(@Root() optimization: Optimization): OptimizationProgress {
    return { phase: optimization.phase, metricCalls: optimization.metricCalls, trials: optimization.trials, bestScore: optimization.bestScore };
  }

  @FieldResolver(() => ProgramVersion, { nullable: true, description: "The version it created (COMPLETED); not current until promoted." })
  resultVersion(@Root() optimization: Optimization, @Ctx() ctx: GraphQLContext): Promise<ProgramVersion | null> | null {
    return optimization.resultVersionId ? ctx.services.programs.getVersion(ctx.scope, optimization.resultVersionId) : null;
  }

  @FieldResolver(() => LanguageModel, { nullable: true, description: "GEPA's reflection LM." })
  reflectionLanguageModel(@Root() optimization: Optimization, @Ctx() ctx: GraphQLContext): Promise<LanguageModel | null> | null {
    return optimization.reflectionLanguageModelId ? ctx.services.languageModels.get(ctx.scope, optimization.reflectionLanguageModelId) : null;
  }

  @FieldResolver(() => Program, { nullable: true })
  program(@Root() optimization: Optimization, @Ctx() ctx: GraphQLContext): Promise<Program | null> {
    return ctx.services.programs.get(ctx.scope, optimization.programId);
  }

  @FieldResolver(() => ProgramVersion, { nullable: true })
  programVersion(@Root() optimization: Optimization, @Ctx() ctx: GraphQLContext): Promise<ProgramVersion | null> {
    return ctx.services.programs.getVersion(ctx.scope, optimization.programVersionId);
  }

  @FieldResolver(() => Dataset, { nullable: true })
  dataset(@Root() optimization: Optimization, @Ctx() ctx: GraphQLContext): Promise<Dataset | null> {
    return ctx.services.datasets.get(ctx.scope, optimization.datasetId);
  }

  @FieldResolver(() => LanguageModel, { nullable: true, description: "The LM chosen when the optimization was queued." })
  languageModel(@Root() optimization: Optimization, @Ctx() ctx: GraphQLContext): Promise<LanguageModel | null> {
    return ctx.services.languageModels.get(ctx.scope, optimization.languageModelId);
  }
}

@Authorized(Role.VIEWER)
@Resolver(() => Program)
export class ProgramOptimizationsResolver {
  @FieldResolver(() => OptimizationConnection, { description: "This program's optimizations, oldest first." })
  async optimizations(
    @Root() program: Program,
    @Ctx() ctx: GraphQLContext,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ): Promise<ConnectionShape<Optimization>> {
    return toConnection(await ctx.services.optimizations.list(ctx.scope, program.id, { first, after }));
  }
}

/** Subscribes first, then reads the current state, so nothing falls between the two. */
async function currentThenUpdates(ctx: GraphQLContext, id: string): Promise<AsyncIterable<OptimizationUpdate>> {
  const updates = listen<OptimizationUpdate>(ctx.services.events, OPTIMIZATION_UPDATED);
  try {
    const current = await ctx.services.optimizations.require(ctx.scope, id, "id");
    let seen: Optimization = current;
    const first: OptimizationUpdate = { tenantId: current.tenantId, programId: current.programId, optimization: current, kind: "transition" };
    return filtered(
      updates,
      (u) => {
        // Anything not later than what was already sent is part of it.
        if (u.tenantId !== current.tenantId || u.optimization.id !== current.id || !isLater(u.optimization, seen)) return false;
        seen = u.optimization;
        return true;
      },
      first,
    );
  } catch (error) {
    await updates.return?.();
    throw error;
  }
}
