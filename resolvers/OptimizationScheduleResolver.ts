import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import { Optimization, OptimizationSchedule, Program } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { type ConnectionShape, toConnection } from "./types/connection.js";
import { OptimizationScheduleConnection } from "./types/connections.js";
import { ScheduleOptimizationInput } from "./types/optimizationInputs.js";

@Authorized(Role.VIEWER)
@Resolver(() => OptimizationSchedule)
export class OptimizationScheduleResolver {
  @Authorized(Role.VIEWER)
  @Query(() => OptimizationSchedule, { nullable: true })
  optimizationSchedule(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<OptimizationSchedule | null> {
    return ctx.services.optimizationSchedules.get(ctx.scope, id);
  }

  @Authorized(Role.VIEWER)
  @Query(() => OptimizationScheduleConnection, { description: "Optimization schedules (of one program, when given), oldest first." })
  async optimizationSchedules(
    @Ctx() ctx: GraphQLContext,
    @Arg("programId", () => ID, { nullable: true }) programId?: string,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ): Promise<ConnectionShape<OptimizationSchedule>> {
    return toConnection(await ctx.services.optimizationSchedules.list(ctx.scope, programId, { first, after }));
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => OptimizationSchedule, {
    description:
      "Re-optimizes a program's current version on a cron schedule (an Agenda job per schedule). The cron expression is BAD_USER_INPUT at input.cron when invalid; the rest is checked as optimizeProgram checks it. A COMPLETED run is promoted by `promote`.",
  })
  scheduleOptimization(@Arg("input", () => ScheduleOptimizationInput) input: ScheduleOptimizationInput, @Ctx() ctx: GraphQLContext): Promise<OptimizationSchedule> {
    return ctx.services.optimizationSchedules.schedule(ctx.scope, input);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => OptimizationSchedule, { description: "Disables a schedule and removes its job; optimizations it queued are left as they are." })
  unscheduleOptimization(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<OptimizationSchedule> {
    return ctx.services.optimizationSchedules.unschedule(ctx.scope, id);
  }

  @FieldResolver(() => Program, { nullable: true })
  program(@Root() schedule: OptimizationSchedule, @Ctx() ctx: GraphQLContext): Promise<Program | null> {
    return ctx.services.programs.get(ctx.scope, schedule.programId);
  }

  @FieldResolver(() => Optimization, { nullable: true, description: "The optimization its last run queued." })
  lastOptimization(@Root() schedule: OptimizationSchedule, @Ctx() ctx: GraphQLContext): Promise<Optimization | null> | null {
    return schedule.lastOptimizationId ? ctx.services.optimizations.get(ctx.scope, schedule.lastOptimizationId) : null;
  }
}
