import type { NextFunction, Request, Response } from "express";
import { GraphQLError, type GraphQLSchema } from "graphql";
import { createHandler } from "graphql-sse/lib/use/express";
import { formatGraphQLError } from "../errors.js";
import { checkSubscribe, type QueryLimits } from "../limits/queryLimits.js";
import type { GraphQLContext } from "./context.js";
import type { sharedSubscribe } from "./sharedSubscribe.js";

/**
 * GraphQL over Server-Sent Events (graphql-sse, "distinct connections" mode) on the same path as
 * HTTP and graphql-ws: a request that accepts `text/event-stream` is answered as a stream, which is
 * how Hive Gateway and Hive Router reach subgraph subscriptions by default. The same credentials
 * (headers), limits and error shaping as the other two transports.
 */
export function sseHandler(
  schema: GraphQLSchema,
  limits: QueryLimits,
  context: (req: Request) => Promise<GraphQLContext>,
  /** The same subscribe as graphql-ws's (sharedSubscribe): shared executions, each subscriber's credentials checked per event. */
  subscribe: ReturnType<typeof sharedSubscribe>,
  countSubscription: <T>(result: T) => T = (r) => r,
) {
  // graphql-sse types its context as a plain record; ours is the resolvers' GraphQLContext.
  type SseContext = GraphQLContext & Record<PropertyKey, unknown>;
  const handler = createHandler<SseContext>({
    schema,
    subscribe,
    // How much of the event stream its response still holds unsent: how slowly the client reads.
    context: async (req) => ({ ...(await context(req.raw)), unsent: () => req.raw.res?.writableLength ?? 0 }) as SseContext,
    onSubscribe: (_req, params) => {
      const checked = checkSubscribe(schema, limits, { query: params.query, variables: params.variables ?? null, operationName: params.operationName ?? null });
      // graphql-sse takes a result only when it has `data`.
      if (Array.isArray(checked)) return { data: null, errors: checked.map((error) => formatGraphQLError(error.toJSON(), error)) } as never;
      return undefined;
    },
    // Counted in dspy_graphql_subscriptions_open (transport "sse") until it ends.
    onOperation: (_ctx, _req, _args, result) => countSubscription(result),
    // Errors the operation raised are shaped here (those from onSubscribe already are).
    onNext: (_ctx, _req, result) =>
      (result.errors ? { ...result, errors: result.errors.map((error) => (error instanceof GraphQLError ? formatGraphQLError(error.toJSON(), error) : error)) } : result) as never,
  });
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!(req.headers.accept ?? "").includes("text/event-stream")) return next();
    handler(req, res).catch((error: unknown) => {
      formatGraphQLError({ message: "" }, error); // logged as an internal error there
      if (!res.headersSent) res.writeHead(500).end();
      else res.end();
    });
  };
}
