import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import { Execution, ExecutionEvent, ExecutionStatus, ExecutionUsage, LanguageModel, Program, ProgramVersion } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { traceIdOf } from "../src/observability/tracing.js";
import { type ConnectionShape, toConnection } from "./types/connection.js";
import { ExecutionConnection } from "./types/connections.js";
import { ExecuteProgramInput } from "./types/inputs.js";

/** An execution as a transition left it, with that transition (see ExecutionEvents). */
export type ExecutionSnapshot = Execution & { lastEvent?: ExecutionEvent };

@Authorized(Role.VIEWER)
@Resolver(() => Execution)
export class ExecutionResolver {
  @Authorized(Role.VIEWER)
  @Query(() => Execution, { nullable: true })
  execution(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Execution | null> {
    return ctx.services.executions.get(ctx.scope, id);
  }

  @Authorized(Role.VIEWER)
  @Query(() => ExecutionConnection, { description: "Executions, oldest first." })
  async executions(
    @Ctx() ctx: GraphQLContext,
    @Arg("programId", () => ID, { nullable: true }) programId?: string,
    @Arg("status", () => ExecutionStatus, { nullable: true }) status?: ExecutionStatus,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ): Promise<ConnectionShape<Execution>> {
    return toConnection(await ctx.services.executions.list(ctx.scope, { programId, status }, { first, after }));
  }

  @Authorized(Role.RUNNER)
  @Mutation(() => Execution, { description: "Queues an execution (PENDING); with `wait`, returns it once it is terminal." })
  async executeProgram(@Arg("input", () => ExecuteProgramInput) input: ExecuteProgramInput, @Ctx() ctx: GraphQLContext): Promise<Execution> {
    // Before anything is read or written: a refused call leaves no trace (README: "Limits").
    await ctx.services.executeRateLimit.check(ctx.principal);
    return ctx.services.executions.execute(ctx.scope, input);
  }

  @Authorized(Role.RUNNER)
  @Mutation(() => Execution, { description: "PENDING or RUNNING → CANCELLED; a running attempt's result is discarded." })
  cancelExecution(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Execution> {
    return ctx.services.executions.cancel(ctx.scope, id);
  }

  @Authorized(Role.RUNNER)
  @Mutation(() => Execution, { description: "FAILED → PENDING with a fresh budget of attempts." })
  retryExecution(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Execution> {
    return ctx.services.executions.retry(ctx.scope, id);
  }

  @FieldResolver(() => Program, { nullable: true })
  program(@Root() execution: Execution, @Ctx() ctx: GraphQLContext): Promise<Program | null> {
    return ctx.services.programs.get(ctx.scope, execution.programId);
  }

  @FieldResolver(() => ProgramVersion, { nullable: true })
  programVersion(@Root() execution: Execution, @Ctx() ctx: GraphQLContext): Promise<ProgramVersion | null> {
    return ctx.services.programs.getVersion(ctx.scope, execution.programVersionId);
  }

  @FieldResolver(() => LanguageModel, { nullable: true, description: "The LM chosen when the execution was queued." })
  languageModel(@Root() execution: Execution, @Ctx() ctx: GraphQLContext): Promise<LanguageModel | null> {
    return ctx.services.languageModels.get(ctx.scope, execution.languageModelId);
  }

  @FieldResolver(() => ExecutionUsage, { nullable: true, description: "Set when COMPLETED." })
  usage(@Root() execution: Execution): ExecutionUsage | null {
    const usage = execution.usage;
    if (!usage) return null;
    return { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, totalTokens: usage.total_tokens, lmCalls: usage.lm_calls };
  }

  @FieldResolver(() => String, { nullable: true, description: "The OpenTelemetry trace of this execution (the request that created it, its jobs, worker, module steps and LM calls); null when tracing was off." })
  traceId(@Root() execution: Execution): string | null {
    return traceIdOf(execution.traceparent);
  }

  @FieldResolver(() => [ExecutionEvent], { description: "Every transition, oldest first." })
  events(@Root() execution: Execution, @Ctx() ctx: GraphQLContext): Promise<ExecutionEvent[]> {
    return ctx.services.executions.eventsOf(ctx.scope, execution.id);
  }

  @FieldResolver(() => ExecutionEvent, { nullable: true, description: "The transition that produced this state (in a subscription: the one being delivered)." })
  async lastEvent(@Root() execution: ExecutionSnapshot, @Ctx() ctx: GraphQLContext): Promise<ExecutionEvent | null> {
    return execution.lastEvent ?? ctx.services.executions.eventAt(ctx.scope, execution.id, execution.transitions);
  }
}
