import { createRequire } from "node:module";
import type { ApolloServerPlugin } from "@apollo/server";
import {
  type ASTVisitor,
  type DocumentNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  getNamedType,
  getOperationAST,
  isLeafType,
  parse,
  specifiedRules,
  validate,
} from "graphql";
import type * as QueryComplexity from "graphql-query-complexity";
import type { ComplexityEstimator } from "graphql-query-complexity";
import { DEFAULT_PAGE_SIZE } from "../pagination.js";

// graphql-query-complexity's ESM build imports `graphql/index.mjs`, while graphql 16 resolves
// `import "graphql"` to its CommonJS build (as Apollo and TypeGraphQL use it): two graphql
// instances, and every schema check fails with "from another module or realm". Its CommonJS build
// requires "graphql" like everything else, so it is loaded with require.
const { getComplexity } = createRequire(import.meta.url)("graphql-query-complexity") as typeof QueryComplexity;

/**
 * Query depth and complexity limits (README: "Limits"), the same on HTTP (an Apollo validation rule
 * and plugin) and on graphql-ws (`checkSubscribe`). Both answer HTTP 400 with their own code, the
 * measured value and the limit, and nothing else.
 */
export interface QueryLimits {
  maxDepth: number;
  maxComplexity: number;
}

/**
 * Depth = the deepest chain of nested fields, fragments and inline fragments expanded (a top-level
 * field is depth 1). Introspection (`__schema`, `__type`) is not counted: tools that read the schema
 * must keep working, and it touches no data.
 */
export function operationDepth(operation: OperationDefinitionNode, fragments: (name: string) => FragmentDefinitionNode | null | undefined): number {
  const visit = (selectionSet: SelectionSetNode, depth: number, seen: ReadonlySet<string>): number => {
    let deepest = depth;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value === "__schema" || selection.name.value === "__type") continue;
        deepest = Math.max(deepest, selection.selectionSet ? visit(selection.selectionSet, depth + 1, seen) : depth + 1);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        deepest = Math.max(deepest, visit(selection.selectionSet, depth, seen));
      } else {
        const name = selection.name.value;
        const fragment = fragments(name);
        // A cycle is NoFragmentCyclesRule's to report; an unknown fragment KnownFragmentNamesRule's.
        if (!fragment || seen.has(name)) continue;
        deepest = Math.max(deepest, visit(fragment.selectionSet, depth, new Set([...seen, name])));
      }
    }
    return deepest;
  };
  return visit(operation.selectionSet, 0, new Set());
}

/** A validation rule refusing operations deeper than `maxDepth` with QUERY_TOO_DEEP. */
export function depthLimitRule(maxDepth: number): (context: ValidationContext) => ASTVisitor {
  return (context) => ({
    OperationDefinition(operation) {
      const depth = operationDepth(operation, (name) => context.getFragment(name));
      if (depth > maxDepth) {
        context.reportError(
          new GraphQLError(`query too deep: depth ${depth} exceeds the limit of ${maxDepth}`, {
            nodes: [operation],
            extensions: { code: "QUERY_TOO_DEEP", depth, maxDepth },
          }),
        );
      }
    },
  });
}

/**
 * Cost ≈ the objects an operation resolves: a field returning an object (or a list of them) costs 1
 * plus its selections; scalar and enum fields cost nothing (they are read off an object already
 * loaded); a field that takes `first` (connections) costs its selections once per item asked for
 * (DEFAULT_PAGE_SIZE when `first` is not given); `_entities` costs one object per representation.
 * So a page of 100 costs about 200, nested pages of 20 × 20 about 900, of 100 × 100 about 20,000.
 */
const objectsEstimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  if (field.name.startsWith("__")) return 0;
  if (field.name === "_entities") {
    const count = Array.isArray(args.representations) ? args.representations.length : 1;
    return 1 + Math.max(1, count) * (1 + childComplexity);
  }
  if (field.args.some((arg) => arg.name === "first")) {
    const first = typeof args.first === "number" && args.first >= 0 ? args.first : DEFAULT_PAGE_SIZE;
    return 1 + Math.max(1, first) * childComplexity;
  }
  return isLeafType(getNamedType(field.type)) ? 0 : 1 + childComplexity;
};

export function operationComplexity(schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown> | undefined, operationName?: string | null): number {
  return getComplexity({
    schema,
    query: document,
    variables: variables ?? {},
    operationName: operationName ?? undefined,
    estimators: [objectsEstimator],
  });
}

export function complexityError(complexity: number, maxComplexity: number): GraphQLError {
  return new GraphQLError(`query too complex: estimated cost ${complexity} exceeds the limit of ${maxComplexity}`, {
    extensions: { code: "QUERY_TOO_COMPLEX", complexity, maxComplexity, http: { status: 400 } },
  });
}

/** The complexity limit for Apollo (HTTP): checked once the operation is known, before it runs. */
export function complexityLimitPlugin(maxComplexity: number): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, request, operationName }) {
          let complexity: number;
          try {
            complexity = operationComplexity(schema, document, request.variables, operationName);
          } catch (error) {
            // Variables that do not coerce (a GraphQLError): execution reports them with graphql-js's own message.
            if (error instanceof GraphQLError) return;
            throw error;
          }
          if (complexity > maxComplexity) throw complexityError(complexity, maxComplexity);
        },
      };
    },
  };
}

/**
 * graphql-ws `onSubscribe`: parse, validate (with the depth rule) and cost the operation, the same
 * checks as HTTP. Returns the errors to send, or the arguments to execute with.
 */
export function checkSubscribe(
  schema: GraphQLSchema,
  limits: QueryLimits,
  payload: { query: string; variables?: Record<string, unknown> | null; operationName?: string | null },
): GraphQLError[] | { schema: GraphQLSchema; document: DocumentNode; variableValues?: Record<string, unknown> | null; operationName?: string | null } {
  let document: DocumentNode;
  try {
    document = parse(payload.query);
  } catch (error) {
    return [error instanceof GraphQLError ? error : new GraphQLError("the query could not be parsed")];
  }
  const errors = validate(schema, document, [...specifiedRules, depthLimitRule(limits.maxDepth)]);
  if (errors.length > 0) return [...errors];
  if (getOperationAST(document, payload.operationName ?? undefined)) {
    try {
      const complexity = operationComplexity(schema, document, payload.variables ?? undefined, payload.operationName);
      if (complexity > limits.maxComplexity) return [complexityError(complexity, limits.maxComplexity)];
    } catch (error) {
      // Variables that do not coerce (a GraphQLError): execution reports them.
      if (!(error instanceof GraphQLError)) throw error;
    }
  }
  return { schema, document, variableValues: payload.variables, operationName: payload.operationName };
}
