import { Arg, Authorized, Ctx, Field, FieldResolver, ID, Int, Mutation, ObjectType, Query, Resolver, Root } from "type-graphql";
import { Dataset, Example, ExampleSplit } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { type ConnectionShape, toConnection } from "./types/connection.js";
import { DatasetConnection, ExampleConnection } from "./types/connections.js";
import { AddExamplesInput, CreateDatasetInput, DatasetFilter } from "./types/inputs.js";

@ObjectType()
export class AddExamplesPayload {
  @Field(() => Dataset) dataset!: Dataset;
  @Field(() => [Example], { description: "The examples added, in input order." }) examples!: Example[];
}

@Authorized(Role.VIEWER)
@Resolver(() => Dataset)
export class DatasetResolver {
  @Authorized(Role.VIEWER)
  @Query(() => Dataset, { nullable: true })
  dataset(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Dataset | null> {
    return ctx.services.datasets.get(ctx.scope, id);
  }

  @Authorized(Role.VIEWER)
  @Query(() => DatasetConnection)
  async datasets(
    @Ctx() ctx: GraphQLContext,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
    @Arg("filter", () => DatasetFilter, { nullable: true }) filter?: DatasetFilter,
  ): Promise<ConnectionShape<Dataset>> {
    return toConnection(await ctx.services.datasets.list(ctx.scope, filter, { first, after }));
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => Dataset)
  createDataset(@Arg("input", () => CreateDatasetInput) input: CreateDatasetInput, @Ctx() ctx: GraphQLContext): Promise<Dataset> {
    return ctx.services.datasets.create(ctx.scope, input);
  }

  @Authorized(Role.EDITOR)
  @Mutation(() => AddExamplesPayload)
  addExamples(@Arg("input", () => AddExamplesInput) input: AddExamplesInput, @Ctx() ctx: GraphQLContext): Promise<AddExamplesPayload> {
    return ctx.services.datasets.addExamples(ctx.scope, input.datasetId, input.examples);
  }

  @FieldResolver(() => ExampleConnection)
  async examples(
    @Root() dataset: Dataset,
    @Ctx() ctx: GraphQLContext,
    @Arg("split", () => ExampleSplit, { nullable: true }) split?: ExampleSplit,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ): Promise<ConnectionShape<Example>> {
    return toConnection(await ctx.services.datasets.examples(ctx.scope, dataset.id, split, { first, after }));
  }

  @FieldResolver(() => Int)
  exampleCount(@Root() dataset: Dataset, @Ctx() ctx: GraphQLContext, @Arg("split", () => ExampleSplit, { nullable: true }) split?: ExampleSplit): Promise<number> {
    return ctx.services.datasets.countExamples(ctx.scope, dataset.id, split);
  }
}
