import { filter, pipe } from "@graphql-yoga/subscription";
import { GraphQLDateTimeISO } from "graphql-scalars";
import { Arg, Authorized, Ctx, Field, FieldResolver, ID, Int, ObjectType, Resolver, Root, Subscription, registerEnumType } from "type-graphql";
import { Program, ProgramVersion } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import { broadcast } from "../src/graphql/broadcast.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { PROGRAM_CHANGED, type ProgramChangedEvent } from "../src/programs/ProgramEvents.js";

enum ProgramChangeKind {
  CREATED = "CREATED",
  UPDATED = "UPDATED",
  DELETED = "DELETED",
}
registerEnumType(ProgramChangeKind, { name: "ProgramChangeKind" });

@ObjectType({ description: "One change to a program, as delivered to `programChanged` subscribers." })
export class ProgramChange {
  @Field(() => ProgramChangeKind) kind!: ProgramChangeKind;
  @Field(() => ID) programId!: string;
  @Field(() => Int, { description: "The program's lock version after the change." }) version!: number;
  @Field(() => GraphQLDateTimeISO) at!: Date;
  newVersionId!: string | null;
}

@Authorized(Role.VIEWER)
@Resolver(() => ProgramChange)
export class ProgramChangedResolver {
  @Authorized(Role.VIEWER)
  @Subscription(() => ProgramChange, {
    description: "Every change to one program, in order. Fails with NOT_FOUND for a program the caller cannot see.",
    subscribe: async ({ args, context }) => {
      const ctx = context as GraphQLContext;
      const program = await ctx.services.programs.require(ctx.scope, args.id as string, "id");
      const tenantId = ctx.scope.tenantId;
      // The same events for every caller with the same tenant and arguments: one group shares them.
      return broadcast(
        pipe(
          ctx.services.events.subscribe(PROGRAM_CHANGED) as AsyncIterable<ProgramChangedEvent>,
          filter((event: ProgramChangedEvent) => event.programId === program.id && event.tenantId === tenantId),
        ),
      );
    },
  })
  programChanged(@Root() event: ProgramChangedEvent, @Arg("id", () => ID) _id: string): ProgramChange {
    return { kind: event.kind as ProgramChangeKind, programId: event.programId, version: event.version, at: new Date(event.at), newVersionId: event.newVersionId };
  }

  @FieldResolver(() => Program, { nullable: true, description: "The program as it is now; null once deleted." })
  program(@Root() change: ProgramChange, @Ctx() ctx: GraphQLContext): Promise<Program | null> {
    return ctx.services.programs.get(ctx.scope, change.programId);
  }

  @FieldResolver(() => ProgramVersion, { nullable: true, description: "The version this change created, if any." })
  newVersion(@Root() change: ProgramChange, @Ctx() ctx: GraphQLContext): Promise<ProgramVersion | null> | null {
    return change.newVersionId ? ctx.services.programs.getVersion(ctx.scope, change.newVersionId) : null;
  }
}
