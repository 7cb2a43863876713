import { GraphQLDateTimeISO } from "graphql-scalars";
import { Arg, Authorized, Ctx, Field, FieldResolver, Float, ID, Int, ObjectType, Query, Resolver, Root } from "type-graphql";
import { LanguageModel, Program } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { SpendGroup } from "../src/executions/Spend.js";
import type { GraphQLContext } from "../src/graphql/context.js";

@ObjectType({ description: "What one language model's executions cost in the period." })
export class LanguageModelSpend {
  @Field(() => ID, { name: "languageModelId" }) id!: string;
  @Field(() => Int) executions!: number;
  @Field(() => Float, { description: "USD." }) cost!: number;
}

@ObjectType({ description: "What one program's executions cost in the period." })
export class ProgramSpend {
  @Field(() => ID, { name: "programId" }) id!: string;
  @Field(() => Int) executions!: number;
  @Field(() => Float, { description: "USD." }) cost!: number;
}

@ObjectType({ description: "What the tenant's executions that finished in a period cost (each execution's `cost`, summed)." })
export class Spend {
  @Field(() => GraphQLDateTimeISO) since!: Date;
  @Field(() => GraphQLDateTimeISO) until!: Date;
  @Field(() => Int) executions!: number;
  @Field(() => Float, { description: "USD." }) cost!: number;
  @Field(() => [LanguageModelSpend], { description: "Most expensive first." }) byLanguageModel!: SpendGroup[];
  @Field(() => [ProgramSpend], { description: "Most expensive first." }) byProgram!: SpendGroup[];
}

@Authorized(Role.VIEWER)
@Resolver(() => Spend)
export class SpendResolver {
  @Query(() => Spend, { description: "What executions finished in [since, until) cost, in all, per language model and per program (at most 366 days; until defaults to now)." })
  spend(@Arg("since", () => GraphQLDateTimeISO) since: Date, @Ctx() ctx: GraphQLContext, @Arg("until", () => GraphQLDateTimeISO, { nullable: true }) until?: Date | null): Promise<Spend> {
    return ctx.services.executions.spend(ctx.scope, since, until ?? new Date());
  }
}

@Authorized(Role.VIEWER)
@Resolver(() => LanguageModelSpend)
export class LanguageModelSpendResolver {
  @FieldResolver(() => LanguageModel, { nullable: true })
  languageModel(@Root() group: SpendGroup, @Ctx() ctx: GraphQLContext): Promise<LanguageModel | null> {
    return ctx.services.languageModels.get(ctx.scope, group.id);
  }
}

@Authorized(Role.VIEWER)
@Resolver(() => ProgramSpend)
export class ProgramSpendResolver {
  @FieldResolver(() => Program, { nullable: true })
  program(@Root() group: SpendGroup, @Ctx() ctx: GraphQLContext): Promise<Program | null> {
    return ctx.services.programs.get(ctx.scope, group.id);
  }
}
