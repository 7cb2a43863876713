import { buildSubgraphSchema } from "@apollo/subgraph";
import { printSchemaWithDirectives } from "@graphql-tools/utils";
import type { GraphQLSchema } from "graphql";
import { gql } from "graphql-tag";
import { buildSchema, createResolversMap } from "type-graphql";
import { RESOLVERS } from "../../resolvers/index.js";
import { authChecker, requireRole } from "../auth/authChecker.js";
import type { EventBus } from "../pubsub.js";
import type { GraphQLContext } from "./context.js";

type Ref = { id: string };

/**
 * `_entities` lookups: authenticated (viewer) and scoped to the caller's tenant like every other
 * read; an unknown or malformed id, or another tenant's, resolves to null.
 */
const REFERENCE_RESOLVERS = {
  Program: (ref: Ref, ctx: GraphQLContext) => (requireRole(ctx), ctx.services.programs.get(ctx.scope, ref.id)),
  ProgramVersion: (ref: Ref, ctx: GraphQLContext) => (requireRole(ctx), ctx.services.programs.getVersion(ctx.scope, ref.id)),
  LanguageModel: (ref: Ref, ctx: GraphQLContext) => (requireRole(ctx), ctx.services.languageModels.get(ctx.scope, ref.id)),
  Dataset: (ref: Ref, ctx: GraphQLContext) => (requireRole(ctx), ctx.services.datasets.get(ctx.scope, ref.id)),
  Execution: (ref: Ref, ctx: GraphQLContext) => (requireRole(ctx), ctx.services.executions.get(ctx.scope, ref.id)),
  Evaluation: (ref: Ref, ctx: GraphQLContext) => (requireRole(ctx), ctx.services.evaluations.get(ctx.scope, ref.id)),
  Optimization: (ref: Ref, ctx: GraphQLContext) => (requireRole(ctx), ctx.services.optimizations.get(ctx.scope, ref.id)),
};

export const FEDERATION_LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])';

/**
 * TypeGraphQL builds the schema from the decorated classes; Apollo's subgraph builder then adds
 * the federation fields (`_service`, `_entities`) around it.
 */
export async function buildFederatedSchema(events: EventBus): Promise<GraphQLSchema> {
  // Every operation is @Authorized; authChecker throws UNAUTHENTICATED / FORBIDDEN itself.
  const schema = await buildSchema({ resolvers: RESOLVERS, pubSub: events, validate: false, authChecker, authMode: "error" });
  const resolvers = createResolversMap(schema) as Record<string, Record<string, unknown>>;
  for (const [typeName, resolveReference] of Object.entries(REFERENCE_RESOLVERS)) {
    resolvers[typeName] = { ...resolvers[typeName], __resolveReference: resolveReference };
  }
  const typeDefs = gql(`${FEDERATION_LINK}\n${printSchemaWithDirectives(schema)}`);
  return buildSubgraphSchema([{ typeDefs, resolvers: resolvers as never }]);
}
