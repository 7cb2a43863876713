import { Arg, Authorized, Ctx, FieldResolver, ID, Mutation, Resolver, Root } from "type-graphql";
import { Optimization, Program, ProgramVersion } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { ImportProgramVersionInput } from "./types/optimizationInputs.js";

@Authorized(Role.VIEWER)
@Resolver(() => ProgramVersion)
export class ProgramVersionMutations {
  @Authorized(Role.EDITOR)
  @Mutation(() => Program, { description: "Makes a version the program's current one (what executions run by default). Rolling back is promoting an older version." })
  promoteProgramVersion(@Arg("versionId", () => ID) versionId: string, @Ctx() ctx: GraphQLContext): Promise<Program> {
    return ctx.services.programs.promoteVersion(ctx.scope, versionId);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => ProgramVersion, {
    description: "A new version (source IMPORT, not current) from a DSPy save() JSON: what plain DSPy's load_state takes for the definition's predictors, with every predictor and lm null. One that does not fit is BAD_USER_INPUT with paths under input.dspyState.",
  })
  importProgramVersion(@Arg("input", () => ImportProgramVersionInput) input: ImportProgramVersionInput, @Ctx() ctx: GraphQLContext): Promise<ProgramVersion> {
    return ctx.services.programs.importVersion(ctx.scope, input);
  }

  @FieldResolver(() => Optimization, { nullable: true, description: "The optimization that created this version (source OPTIMIZATION)." })
  optimization(@Root() version: ProgramVersion, @Ctx() ctx: GraphQLContext): Promise<Optimization | null> | null {
    return version.optimizationId ? ctx.services.optimizations.get(ctx.scope, version.optimizationId) : null;
  }
}
