import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { LanguageModel } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { type ConnectionShape, toConnection } from "./types/connection.js";
import { LanguageModelConnection } from "./types/connections.js";
import { CreateLanguageModelInput, LanguageModelFilter, UpdateLanguageModelInput } from "./types/inputs.js";

@Authorized(Role.VIEWER)
@Resolver(() => LanguageModel)
export class LanguageModelResolver {
  @Authorized(Role.VIEWER)
  @Query(() => LanguageModel, { nullable: true })
  languageModel(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<LanguageModel | null> {
    return ctx.services.languageModels.get(ctx.scope, id);
  }

  @Authorized(Role.VIEWER)
  @Query(() => LanguageModelConnection)
  async languageModels(
    @Ctx() ctx: GraphQLContext,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
    @Arg("filter", () => LanguageModelFilter, { nullable: true }) filter?: LanguageModelFilter,
  ): Promise<ConnectionShape<LanguageModel>> {
    return toConnection(await ctx.services.languageModels.list(ctx.scope, filter, { first, after }));
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => LanguageModel)
  createLanguageModel(@Arg("input", () => CreateLanguageModelInput) input: CreateLanguageModelInput, @Ctx() ctx: GraphQLContext): Promise<LanguageModel> {
    return ctx.services.languageModels.create(ctx.scope, input);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => LanguageModel)
  updateLanguageModel(@Arg("input", () => UpdateLanguageModelInput) input: UpdateLanguageModelInput, @Ctx() ctx: GraphQLContext): Promise<LanguageModel> {
    return ctx.services.languageModels.update(ctx.scope, input);
  }
}
