import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import { Execution, ExecutionStatus, LanguageModel, Program, ProgramVersion } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { type ConnectionShape, toConnection } from "./types/connection.js";
import { ExecutionConnection, ProgramConnection, ProgramVersionConnection } from "./types/connections.js";
import { CreateProgramInput, ProgramFilter, UpdateProgramInput } from "./types/inputs.js";

@Authorized(Role.VIEWER)
@Resolver(() => Program)
export class ProgramResolver {
  @Authorized(Role.VIEWER)
  @Query(() => Program, { nullable: true })
  program(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Program | null> {
    return ctx.services.programs.get(ctx.scope, id);
  }

  @Authorized(Role.VIEWER)
  @Query(() => ProgramConnection)
  async programs(
    @Ctx() ctx: GraphQLContext,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
    @Arg("filter", () => ProgramFilter, { nullable: true }) filter?: ProgramFilter,
  ): Promise<ConnectionShape<Program>> {
    return toConnection(await ctx.services.programs.list(ctx.scope, filter, { first, after }));
  }

  @Authorized(Role.VIEWER)
  @Query(() => ProgramVersion, { nullable: true })
  programVersion(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ProgramVersion | null> {
    return ctx.services.programs.getVersion(ctx.scope, id);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => Program)
  createProgram(@Arg("input", () => CreateProgramInput) input: CreateProgramInput, @Ctx() ctx: GraphQLContext): Promise<Program> {
    return ctx.services.programs.create(ctx.scope, input);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => Program)
  updateProgram(@Arg("input", () => UpdateProgramInput) input: UpdateProgramInput, @Ctx() ctx: GraphQLContext): Promise<Program> {
    return ctx.services.programs.update(ctx.scope, input);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => ID, { description: "Deletes the program, its versions and its finished executions; refused while executions are pending or running. Returns its id." })
  async deleteProgram(
    @Arg("id", () => ID) id: string,
    @Ctx() ctx: GraphQLContext,
    @Arg("expectedVersion", () => Int, { nullable: true }) expectedVersion?: number,
  ): Promise<string> {
    return (await ctx.services.programs.delete(ctx.scope, id, expectedVersion)).id;
  }

  @FieldResolver(() => LanguageModel, { nullable: true })
  languageModel(@Root() program: Program, @Ctx() ctx: GraphQLContext): Promise<LanguageModel | null> | null {
    return program.languageModelId ? ctx.services.languageModels.get(ctx.scope, program.languageModelId) : null;
  }

  @FieldResolver(() => ProgramVersion, { nullable: true, description: "The version executions run by default." })
  currentVersion(@Root() program: Program, @Ctx() ctx: GraphQLContext): Promise<ProgramVersion | null> | null {
    return program.currentVersionId ? ctx.services.programs.getVersion(ctx.scope, program.currentVersionId) : null;
  }

  @FieldResolver(() => ProgramVersion, { nullable: true })
  versionNumber(@Root() program: Program, @Arg("number", () => Int) number: number, @Ctx() ctx: GraphQLContext): Promise<ProgramVersion | null> {
    return ctx.services.programs.versionByNumber(ctx.scope, program.id, number);
  }

  @FieldResolver(() => ProgramVersionConnection, { description: "Every version, oldest first." })
  async versions(
    @Root() program: Program,
    @Ctx() ctx: GraphQLContext,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ): Promise<ConnectionShape<ProgramVersion>> {
    return toConnection(await ctx.services.programs.versions(ctx.scope, program.id, { first, after }));
  }

  @FieldResolver(() => ExecutionConnection, { description: "This program's executions, oldest first." })
  async executions(
    @Root() program: Program,
    @Ctx() ctx: GraphQLContext,
    @Arg("status", () => ExecutionStatus, { nullable: true }) status?: ExecutionStatus,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ): Promise<ConnectionShape<Execution>> {
    return toConnection(await ctx.services.executions.list(ctx.scope, { programId: program.id, status }, { first, after }));
  }
}
