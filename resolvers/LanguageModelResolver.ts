import { Arg, Authorized, Ctx, Field, FieldResolver, Float, ID, Int, Mutation, ObjectType, Query, Resolver, Root } from "type-graphql";
import { LanguageModel } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { type ConnectionShape, toConnection } from "./types/connection.js";
import { LanguageModelConnection } from "./types/connections.js";
import { CreateLanguageModelInput, LanguageModelFilter, UpdateLanguageModelInput } from "./types/inputs.js";

@ObjectType({ description: "A language model's price, in USD per million tokens." })
export class LanguageModelPrice {
  @Field(() => Float) inputPerMTokens!: number;
  @Field(() => Float) outputPerMTokens!: number;
  @Field({ description: "override (the model's own inputCostPerMTokens / outputCostPerMTokens) or litellm (its model cost map)." }) source!: string;
}

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

  @FieldResolver(() => LanguageModelPrice, { nullable: true, description: "What its calls cost: its own prices when set, else litellm's for its model; null when neither knows." })
  price(@Root() lm: LanguageModel, @Ctx() ctx: GraphQLContext): LanguageModelPrice | null {
    const known = ctx.services.languageModels.prices.priceOf(lm);
    return known ? { inputPerMTokens: known.price.input * 1e6, outputPerMTokens: known.price.output * 1e6, source: known.source } : null;
  }
}
