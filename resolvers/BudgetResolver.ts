import { GraphQLDateTimeISO } from "graphql-scalars";
import { Arg, Authorized, Ctx, Field, FieldResolver, Float, ID, InputType, Mutation, Query, Resolver, Root } from "type-graphql";
import { Budget, BudgetPeriod, LanguageModel } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";

@InputType()
export class SetBudgetInput {
  @Field(() => ID, { nullable: true, description: "The language model it limits; left out: the whole tenant." }) languageModelId?: string | null;
  @Field(() => BudgetPeriod) period!: BudgetPeriod;
  @Field(() => Float, { description: "USD per period (0 stops every run it applies to)." }) limitUsd!: number;
}

@Authorized(Role.VIEWER)
@Resolver(() => Budget)
export class BudgetResolver {
  @Query(() => [Budget], { description: "The tenant's budgets, each with its period's spend." })
  budgets(@Ctx() ctx: GraphQLContext): Promise<Budget[]> {
    return ctx.services.budgets.list(ctx.scope);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => Budget, { description: "Sets the tenant's (or one language model's) budget for a UTC day or month; setting it again changes the limit. Audited as budget.create / budget.update." })
  setBudget(@Arg("input", () => SetBudgetInput) input: SetBudgetInput, @Ctx() ctx: GraphQLContext): Promise<Budget> {
    return ctx.services.budgets.set(ctx.scope, input);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => Boolean, { description: "Removes a budget (audited as budget.delete)." })
  deleteBudget(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    return ctx.services.budgets.remove(ctx.scope, id);
  }

  @FieldResolver(() => Float, { description: "USD spent in the current period: what the executions it applies to that finished in it cost." })
  async spentUsd(@Root() budget: Budget, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await ctx.services.budgets.status(ctx.scope, budget)).spentUsd;
  }

  @FieldResolver(() => GraphQLDateTimeISO, { description: "When the current period ends and the spend starts again from 0." })
  async resetsAt(@Root() budget: Budget, @Ctx() ctx: GraphQLContext): Promise<Date> {
    return (await ctx.services.budgets.status(ctx.scope, budget)).resetsAt;
  }

  @FieldResolver(() => LanguageModel, { nullable: true })
  languageModel(@Root() budget: Budget, @Ctx() ctx: GraphQLContext): Promise<LanguageModel | null> | null {
    return budget.languageModelId ? ctx.services.languageModels.get(ctx.scope, budget.languageModelId) : null;
  }
}
