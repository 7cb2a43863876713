import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, Subscription } from "type-graphql";
import { Batch, BatchStatus, Execution, ExecutionStatus } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { type ConnectionShape, toConnection } from "./types/connection.js";
import { ExecutionConnection } from "./types/connections.js";
import { ExecuteProgramBatchInput } from "./types/inputs.js";

@Authorized(Role.VIEWER)
@Resolver(() => Batch)
export class BatchResolver {
  @Authorized(Role.VIEWER)
  @Query(() => Batch, { nullable: true })
  batch(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Batch | null> {
    return ctx.services.batches.get(ctx.scope, id);
  }

  @Authorized(Role.RUNNER)
  @Mutation(() => Batch, {
    description: "One execution per input (1 to 1,000), created together with their batch once every input is valid (else nothing is written), then queued. The same idempotencyKey with the same request returns the same batch.",
  })
  async executeProgramBatch(@Arg("input", () => ExecuteProgramBatchInput) input: ExecuteProgramBatchInput, @Ctx() ctx: GraphQLContext): Promise<Batch> {
    // One token per input, at most the whole burst: a batch is rate limited as the executions it queues.
    await ctx.services.executeRateLimit.check(ctx.principal, Array.isArray(input.inputs) ? Math.max(1, input.inputs.length) : 1);
    return ctx.services.batches.execute(ctx.scope, input);
  }

  @Authorized(Role.RUNNER)
  @Mutation(() => Batch, { description: "Cancels the batch: each of its executions still PENDING or RUNNING becomes CANCELLED." })
  cancelBatch(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Batch> {
    return ctx.services.batches.cancel(ctx.scope, id);
  }

  @Authorized(Role.VIEWER)
  @Subscription(() => Batch, {
    description: "The batch now, then again as its executions progress (at most every 100 ms); completes once none of them is PENDING or RUNNING.",
    subscribe: ({ args, context }) => {
      const ctx = context as GraphQLContext;
      return ctx.services.batches.updates(ctx.scope, args.id as string);
    },
  })
  batchUpdated(@Root() batch: Batch, @Arg("id", () => ID) _id: string): Batch {
    return batch;
  }

  @FieldResolver(() => BatchStatus)
  async status(@Root() batch: Batch, @Ctx() ctx: GraphQLContext): Promise<BatchStatus> {
    return ctx.services.batches.status(batch, await ctx.services.batches.countsOf(batch));
  }

  @FieldResolver(() => Int, { description: "Executions PENDING." })
  async pending(@Root() batch: Batch, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await ctx.services.batches.countsOf(batch)).pending;
  }

  @FieldResolver(() => Int, { description: "Executions RUNNING." })
  async running(@Root() batch: Batch, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await ctx.services.batches.countsOf(batch)).running;
  }

  @FieldResolver(() => Int, { description: "Executions COMPLETED." })
  async completed(@Root() batch: Batch, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await ctx.services.batches.countsOf(batch)).completed;
  }

  @FieldResolver(() => Int, { description: "Executions FAILED." })
  async failed(@Root() batch: Batch, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await ctx.services.batches.countsOf(batch)).failed;
  }

  @FieldResolver(() => Int, { description: "Executions CANCELLED." })
  async cancelled(@Root() batch: Batch, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await ctx.services.batches.countsOf(batch)).cancelled;
  }

  @FieldResolver(() => ExecutionConnection, { description: "Its executions, in the order of their inputs." })
  async executions(
    @Root() batch: Batch,
    @Ctx() ctx: GraphQLContext,
    @Arg("status", () => ExecutionStatus, { nullable: true }) status?: ExecutionStatus,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ): Promise<ConnectionShape<Execution>> {
    return toConnection(await ctx.services.batches.executionsOf(ctx.scope, batch, status, { first, after }));
  }
}
