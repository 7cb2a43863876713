import type { ApolloServerPlugin } from "@apollo/server";
import { context } from "@opentelemetry/api";
import type { RequestHandler } from "express";
import { SpanKind, SpanStatusCode, contextFromTraceparent, enterSpan, inTraceScope, tracer, tracingEnabled } from "./tracing.js";

/**
 * The HTTP half: a trace scope per GraphQL request, continuing the caller's trace when it sends a
 * W3C `traceparent` (a gateway propagating its own). Mounted right before Apollo's middleware, so
 * everything Apollo runs for the request (plugins, resolvers, services) is inside the scope.
 */
export function graphqlTraceScope(): RequestHandler {
  return (req, _res, next) => {
    if (!tracingEnabled()) return next();
    const header = req.headers.traceparent;
    inTraceScope(contextFromTraceparent(typeof header === "string" ? header : undefined), next);
  };
}

/**
 * The span of one GraphQL operation (`mutation ExecuteProgram`, kind SERVER), entered as the active
 * span of the request's scope, so what the resolvers start (an execution's enqueue, and through
 * the stored traceparent its job) is part of it. Ended when the response is sent.
 */
export function graphqlTracingPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart({ request }) {
      if (!tracingEnabled()) return;
      const span = tracer().startSpan("graphql.request", { kind: SpanKind.SERVER, attributes: { "graphql.operation.name": request.operationName ?? "" } }, context.active());
      enterSpan(span);
      return {
        async didResolveOperation({ operation, operationName }) {
          const name = operationName ?? "";
          const type = operation?.operation ?? "query";
          span.updateName(`${type} ${name}`.trim());
          span.setAttributes({ "graphql.operation.type": type, "graphql.operation.name": name });
        },
        async didEncounterErrors({ errors }) {
          const first = errors[0];
          const code = first?.extensions?.code;
          span.setAttribute("error.type", typeof code === "string" ? code : "GRAPHQL_ERROR");
          span.setStatus({ code: SpanStatusCode.ERROR, message: first?.message });
        },
        async willSendResponse() {
          span.end();
        },
      };
    },
  };
}
