import { Arg, Authorized, Ctx, ID, Resolver, Root, Subscription } from "type-graphql";
import { Execution, ExecutionStatus } from "../entities/index.js";
import { type ExecutionUpdate, listenToExecution, listenToProgram } from "../src/executions/ExecutionEvents.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { filtered } from "../src/pubsub.js";
import { broadcast } from "../src/graphql/broadcast.js";
import type { ExecutionOutputEvent } from "../src/executions/ExecutionOutput.js";
import type { OutputStreamItem } from "../src/executions/ExecutionOutputStream.js";
import { ExecutionOutput, type ExecutionOutputKind } from "./types/executionOutput.js";
import type { ExecutionSnapshot } from "./ExecutionResolver.js";

@Authorized(Role.VIEWER)
@Resolver(() => Execution)
export class ExecutionUpdatesResolver {
  @Authorized(Role.VIEWER)
  @Subscription(() => Execution, {
    description:
      "The execution as it is now, then again after every transition, in order (`lastEvent` says which); completes after its terminal state. Fails with NOT_FOUND for an execution the caller cannot see.",
    subscribe: ({ args, context }) => currentThenUpdates(context as GraphQLContext, args.id as string),
  })
  executionUpdated(@Root() update: ExecutionUpdate, @Arg("id", () => ID) _id: string): ExecutionSnapshot {
    return snapshot(update);
  }

  @Authorized(Role.VIEWER)
  @Subscription(() => ExecutionOutput, {
    description:
      "A running execution's output as it is written: each output field's text in DELTAs, module and tool STATUS events, TRANSITIONs, then one FINAL with the outputs or the error, after which it completes. Subscribed while it runs, what it wrote so far comes first. A subscriber that reads too slowly gets the SLOW_SUBSCRIBER error and is dropped (the run is never slowed). Fails with NOT_FOUND for an execution the caller cannot see.",
    subscribe: ({ args, context }) => {
      const ctx = context as GraphQLContext;
      return ctx.services.outputs.follow(ctx.scope, args.id as string, ctx.unsent);
    },
  })
  executionOutput(@Root() item: OutputStreamItem, @Arg("id", () => ID) _id: string, @Ctx() ctx: GraphQLContext): ExecutionOutput {
    if (item.kind === "OVERFLOW") throw ctx.services.outputs.slowSubscriber();
    return outputOf(item);
  }

  @Authorized(Role.VIEWER)
  @Subscription(() => Execution, {
    description: "Every transition of every execution of one program (only those into `statuses`, when given), in order per execution.",
    subscribe: async ({ args, context }) => {
      const ctx = context as GraphQLContext;
      // Checked first: the program's topic is subscribed to only for a program the caller can see.
      const program = await ctx.services.programs.require(ctx.scope, args.programId as string, "programId");
      const statuses = (args.statuses as ExecutionStatus[] | null | undefined) ?? [];
      const updates = listenToProgram(ctx.services.events, program.id);
      // The same events for every caller with the same tenant and arguments: one group shares them.
      return broadcast(filtered(updates, (u) => u.tenantId === ctx.scope.tenantId && u.programId === program.id && (statuses.length === 0 || statuses.includes(u.event.to))));
    },
  })
  executionEvents(
    @Root() update: ExecutionUpdate,
    @Arg("programId", () => ID) _programId: string,
    @Arg("statuses", () => [ExecutionStatus], { nullable: true }) _statuses?: ExecutionStatus[],
  ): ExecutionSnapshot {
    return snapshot(update);
  }
}

/** The GraphQL shape of one item of followExecutionOutput. */
function outputOf(item: Exclude<OutputStreamItem, { kind: "OVERFLOW" }>): ExecutionOutput {
  const out = Object.assign(new ExecutionOutput(), { executionId: item.executionId, kind: item.kind as ExecutionOutputKind, attempt: item.attempt, seq: item.seq, step: null, module: null, field: null, text: null, event: null, message: null, outputs: null, status: null, error: null, execution: null });
  if (item.kind === "TRANSITION" || item.kind === "FINAL") {
    const execution = item.execution;
    return Object.assign(out, { status: item.status, message: item.message, execution, outputs: item.kind === "FINAL" ? execution.outputs : null, error: item.kind === "FINAL" ? execution.error : null });
  }
  const e = item as ExecutionOutputEvent;
  return Object.assign(out, { step: e.step, module: e.module, field: e.field ?? null, text: e.text ?? null, event: e.event ?? null, message: e.message ?? null, outputs: e.outputs ?? null });
}

const TERMINAL: readonly ExecutionStatus[] = [ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED];

function snapshot(update: ExecutionUpdate): ExecutionSnapshot {
  return Object.assign(new Execution(), update.execution, { lastEvent: update.event });
}

/** Subscribes first, then reads the current state, so no transition falls between the two. */
async function currentThenUpdates(ctx: GraphQLContext, id: string): Promise<AsyncIterable<ExecutionUpdate>> {
  const updates = listenToExecution(ctx.services.events, id);
  try {
    const current = await ctx.services.executions.require(ctx.scope, id, "id");
    const event = await ctx.services.executions.eventAt(ctx.scope, current.id, current.transitions);
    if (!event) throw new Error(`execution ${current.id} has no event ${current.transitions}`);
    let seen = current.transitions;
    const first = { tenantId: current.tenantId, programId: current.programId, execution: current, event };
    return filtered(
      updates,
      (u) => {
        // Events up to `seen` are already part of the state sent first.
        if (u.tenantId !== current.tenantId || u.execution.id !== current.id || u.event.seq <= seen) return false;
        seen = u.event.seq;
        return true;
      },
      first,
      // After a terminal state nothing follows: the subscription completes.
      (u) => TERMINAL.includes(u.execution.status),
    );
  } catch (error) {
    await updates.return?.();
    throw error;
  }
}
