import { createRequire } from "node:module";
import type { ApolloServerPlugin } from "@apollo/server";
import {
  type ASTNode,
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
  visit,
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

/** Fields an operation may expand to, fragments expanded (graphql-query-complexity stops at the same number). */
export const MAX_EXPANDED_FIELDS = 10_000;

/** An operation's shape: its depth and how many fields it expands to (fragments expanded). */
export interface OperationShape {
  depth: number;
  fields: number;
}

/**
 * Depth = the deepest chain of nested fields, fragments and inline fragments expanded (a top-level
 * field is depth 1); fields = how many fields the operation expands to. Introspection (`__schema`,
 * `__type`) is not counted: tools that read the schema must keep working, and it touches no data
 * (its cost is counted instead). Each fragment's shape is computed once per operation and reused at
 * every spread: fragments that each spread the next twice cost one visit each here, not 2^levels.
 */
export function operationShape(operation: OperationDefinitionNode, fragments: (name: string) => FragmentDefinitionNode | null | undefined): OperationShape {
  const known = new Map<string, OperationShape>();
  const inProgress = new Set<string>();
  const below = (selectionSet: SelectionSetNode): OperationShape => {
    const shape = { depth: 0, fields: 0 };
    const add = (inner: OperationShape, extraDepth: number) => {
      shape.depth = Math.max(shape.depth, inner.depth + extraDepth);
      shape.fields += inner.fields + extraDepth;
    };
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value === "__schema" || selection.name.value === "__type") continue;
        add(selection.selectionSet ? below(selection.selectionSet) : { depth: 0, fields: 0 }, 1);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        add(below(selection.selectionSet), 0);
      } else {
        add(ofFragment(selection.name.value), 0);
      }
    }
    return shape;
  };
  const ofFragment = (name: string): OperationShape => {
    const cached = known.get(name);
    if (cached) return cached;
    const fragment = fragments(name);
    // A cycle is NoFragmentCyclesRule's to report; an unknown fragment KnownFragmentNamesRule's.
    if (!fragment || inProgress.has(name)) return { depth: 0, fields: 0 };
    inProgress.add(name);
    const shape = below(fragment.selectionSet);
    inProgress.delete(name);
    known.set(name, shape);
    return shape;
  };
  return below(operation.selectionSet);
}

/**
 * A validation rule refusing operations deeper than `maxDepth` (QUERY_TOO_DEEP) or expanding to more
 * than MAX_EXPANDED_FIELDS fields (QUERY_TOO_COMPLEX): checked before anything walks the expanded
 * operation (the cost estimate, execution), in time linear in the document.
 */
export function depthLimitRule(maxDepth: number): (context: ValidationContext) => ASTVisitor {
  return (context) => ({
    OperationDefinition(operation) {
      const { depth, fields } = operationShape(operation, (name) => context.getFragment(name));
      if (depth > maxDepth) {
        context.reportError(
          new GraphQLError(`query too deep: depth ${depth} exceeds the limit of ${maxDepth}`, {
            nodes: [operation],
            extensions: { code: "QUERY_TOO_DEEP", layer: "validation", retriable: false, depth, maxDepth },
          }),
        );
      } else if (fields > MAX_EXPANDED_FIELDS) {
        context.reportError(
          new GraphQLError(`query too complex: it expands to ${fields} fields (fragments expanded); the limit is ${MAX_EXPANDED_FIELDS}`, {
            nodes: [operation],
            extensions: { code: "QUERY_TOO_COMPLEX", layer: "validation", retriable: false, fields, maxFields: MAX_EXPANDED_FIELDS },
          }),
        );
      }
    },
  });
}

/** Fields that answer the whole schema: introspection and federation's SDL. */
export const SCHEMA_FIELDS: ReadonlySet<string> = new Set(["__schema", "__type", "_service"]);
/** What one of them costs: one introspection query (or one `_service`) is 100, ten fill the default limit. */
export const SCHEMA_FIELD_COST = 100;

/**
 * Cost ≈ the objects an operation resolves: a field returning an object (or a list of them) costs 1
 * plus its selections; scalar and enum fields cost nothing (they are read off an object already
 * loaded); a field that takes `first` (connections) costs its selections once per item asked for
 * (DEFAULT_PAGE_SIZE when `first` is not given); `_entities` costs one object per representation.
 * So a page of 100 costs about 200, nested pages of 20 × 20 about 900, of 100 × 100 about 20,000.
 */
const objectsEstimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  // The whole schema (or SDL) in one field: a flat price, so a few hundred aliases of it cannot pass.
  if (SCHEMA_FIELDS.has(field.name)) return SCHEMA_FIELD_COST;
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

/**
 * Costs of documents whose cost does not depend on their variables, per operation name. Apollo hands
 * the same parsed document to every request with the same query text, so a client that sends one
 * mutation over and over is costed once (~100 µs of CPU a request otherwise).
 */
const costs = new WeakMap<DocumentNode, Map<string, number>>();

export function operationComplexity(schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown> | undefined, operationName?: string | null): number {
  const known = costs.get(document);
  const cached = known?.get(operationName ?? "");
  if (cached !== undefined) return cached;
  const complexity = computeComplexity(schema, document, variables, operationName);
  if (known) known.set(operationName ?? "", complexity);
  else if (!costDependsOnVariables(document)) costs.set(document, new Map([[operationName ?? "", complexity]]));
  return complexity;
}

/** Whether a variable reaches what the estimate reads: `first`, `_entities`' representations, or @include/@skip. */
function costDependsOnVariables(document: DocumentNode): boolean {
  let depends = false;
  const hasVariable = (node: ASTNode) => visit(node, { Variable: () => void (depends = true) });
  visit(document, {
    Directive(directive) {
      hasVariable(directive);
      return false;
    },
    Argument(argument) {
      if (argument.name.value === "first" || argument.name.value === "representations") hasVariable(argument.value);
      return false;
    },
  });
  return depends;
}

function computeComplexity(schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown> | undefined, operationName?: string | null): number {
  try {
    return getComplexity({
      schema,
      query: document,
      variables: variables ?? {},
      operationName: operationName ?? undefined,
      estimators: [objectsEstimator],
      maxQueryNodes: 4 * MAX_EXPANDED_FIELDS,
    });
  } catch (error) {
    // Its own bound on the nodes it visits: too complex, not a variable that failed to coerce.
    if (error instanceof GraphQLError && /maximum allowed number of nodes/.test(error.message)) return Number.POSITIVE_INFINITY;
    throw error;
  }
}

export function complexityError(complexity: number, maxComplexity: number): GraphQLError {
  const estimate = Number.isFinite(complexity) ? `estimated cost ${complexity}` : `estimated cost (more than ${4 * MAX_EXPANDED_FIELDS} nodes)`;
  return new GraphQLError(`query too complex: ${estimate} exceeds the limit of ${maxComplexity}`, {
    extensions: { code: "QUERY_TOO_COMPLEX", layer: "validation", retriable: false, complexity: Number.isFinite(complexity) ? complexity : null, maxComplexity, http: { status: 400 } },
  });
}

/** graphql-ws: one subscription more than a connection may hold. */
export function tooManySubscriptions(max: number): GraphQLError {
  return new GraphQLError(`too many subscriptions on this connection: at most ${max} at once (MAX_SUBSCRIPTIONS_PER_CONNECTION); complete one first or open another connection`, {
    extensions: { code: "TOO_MANY_SUBSCRIPTIONS", layer: "validation", retriable: true, maxSubscriptions: max },
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
    // formatGraphQLError words a RangeError (a document nested too deeply for the recursive parser).
    const extensions = { code: "GRAPHQL_PARSE_FAILED" };
    if (error instanceof GraphQLError) return [new GraphQLError(error.message, { source: error.source, positions: error.positions, extensions })];
    return [new GraphQLError("the query could not be parsed", { originalError: error instanceof Error ? error : undefined, extensions })];
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
