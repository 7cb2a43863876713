import { Authorized, Ctx, FieldResolver, Resolver, Root } from "type-graphql";
import { Program, ProgramVersion } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { programOf } from "../src/programs/programOf.js";
import { moduleViews, type ModuleView } from "../src/programs/programModules.js";
import { ProgramModule } from "./types/programModules.js";

@Authorized(Role.VIEWER)
@Resolver(() => ProgramVersion)
export class ProgramVersionResolver {
  @FieldResolver(() => [ProgramModule], { description: "The program's modules, typed: what frontends and codegen read instead of parsing the definition." })
  modules(@Root() version: ProgramVersion): ModuleView[] {
    return moduleViews(programOf(version), version.compiledState);
  }

  @FieldResolver(() => Program, { nullable: true })
  program(@Root() version: ProgramVersion, @Ctx() ctx: GraphQLContext): Promise<Program | null> {
    return ctx.services.programs.get(ctx.scope, version.programId);
  }
}
