import { buildSubgraphSchema } from "@apollo/subgraph";
import { printSchemaWithDirectives } from "@graphql-tools/utils";
import type { GraphQLSchema } from "graphql";
import { gql } from "graphql-tag";
import { buildSchema, createResolversMap } from "type-graphql";
import { RESOLVERS } from "../../resolvers/index.js";
import { authChecker, requireRole } from "../auth/authChecker.js";
import type { EventBus } from "../pubsub.js";
import { AppError, type IssueDetail } from "../errors.js";
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
  Corpus: (ref: Ref, ctx: GraphQLContext) => (requireRole(ctx), ctx.services.corpora.get(ctx.scope, ref.id)),
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
  return checkRepresentations(buildSubgraphSchema([{ typeDefs, resolvers: resolvers as never }]));
}

/**
 * `_entities` refuses representations it cannot resolve with BAD_USER_INPUT at their path
 * (`representations[2].__typename`), before any is looked up; Apollo's resolver would otherwise
 * answer an unknown or non-entity `__typename` with an internal error and its own message.
 */
function checkRepresentations(schema: GraphQLSchema): GraphQLSchema {
  const field = schema.getQueryType()?.getFields()._entities;
  const resolve = field?.resolve;
  if (!field || !resolve) return schema;
  field.resolve = (source, args: { representations?: unknown }, context: GraphQLContext, info) => {
    requireRole(context);
    const representations = Array.isArray(args.representations) ? args.representations : [];
    const issues: IssueDetail[] = [];
    representations.forEach((representation: unknown, i) => {
      const at = `representations[${i}]`;
      if (representation === null || typeof representation !== "object" || Array.isArray(representation)) {
        issues.push({ path: at, reason: "must be an object with __typename and id" });
        return;
      }
      const { __typename: typename, id } = representation as Record<string, unknown>;
      if (typeof typename !== "string" || !Object.hasOwn(REFERENCE_RESOLVERS, typename)) {
        issues.push({ path: `${at}.__typename`, reason: `must name an entity of this subgraph (${Object.keys(REFERENCE_RESOLVERS).join(", ")}), got ${JSON.stringify(typename ?? null).slice(0, 80)}` });
      } else if (typeof id !== "string") {
        issues.push({ path: `${at}.id`, reason: `must be the ${typename}'s id (a string)` });
      }
    });
    if (issues.length > 0) throw AppError.fromIssues(issues);
    return resolve(source, args, context, info);
  };
  return schema;
}
