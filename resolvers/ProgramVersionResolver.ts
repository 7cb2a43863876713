import { Authorized, Ctx, FieldResolver, Resolver, Root } from "type-graphql";
import { Program, ProgramVersion } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";

@Authorized(Role.VIEWER)
@Resolver(() => ProgramVersion)
export class ProgramVersionResolver {
  @FieldResolver(() => Program, { nullable: true })
  program(@Root() version: ProgramVersion, @Ctx() ctx: GraphQLContext): Promise<Program | null> {
    return ctx.services.programs.get(ctx.scope, version.programId);
  }
}
