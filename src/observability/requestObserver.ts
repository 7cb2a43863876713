import type { ApolloServerPlugin } from "@apollo/server";
import type { RequestHandler } from "express";
import { type GraphQLContext, requestIdOf } from "../graphql/context.js";
import { BoundedLabel } from "./boundedLabel.js";
import type { Logger } from "./logger.js";
import type { ProductMetrics } from "./metrics.js";

/** Distinct operation names kept as label values; the rest count as `other`. */
const MAX_OPERATION_NAMES = 200;

/** Where requestIdMiddleware leaves the request's id for the GraphQL context. */
export function requestIdOfResponse(res: { locals: Record<string, unknown> }): string {
  return typeof res.locals.requestId === "string" ? res.locals.requestId : requestIdOf(undefined);
}

/**
 * The request's id: the client's (gateway's) `x-request-id` when it is sane, else a new one; echoed
 * as the response's `x-request-id`, so a client can quote it and an operator find its log line.
 */
export function requestIdMiddleware(): RequestHandler {
  return (req, res, next) => {
    const requestId = requestIdOf(req.headers["x-request-id"]);
    res.locals.requestId = requestId;
    res.setHeader("x-request-id", requestId);
    next();
  };
}

/**
 * One log line and the request series per GraphQL request over HTTP: operation name and type,
 * duration, request id, principal, tenant, the errors' codes. Never variables or the document.
 */
export function requestObserverPlugin(logger: Logger, metrics: ProductMetrics): ApolloServerPlugin<GraphQLContext> {
  const operations = new BoundedLabel(MAX_OPERATION_NAMES);
  return {
    async requestDidStart() {
      const started = performance.now();
      return {
        async willSendResponse({ contextValue, operationName, operation, response }) {
          try {
            const durationMs = performance.now() - started;
            const body = response.body;
            const errors = body.kind === "single" ? (body.singleResult.errors ?? []) : [];
            const codes = errors.map((error) => (typeof error.extensions?.code === "string" ? error.extensions.code : "INTERNAL_SERVER_ERROR"));
            const type = operation?.operation ?? "unknown";
            const name = operations.value(operationName, "anonymous");
            metrics.requests.inc({ operation: name, type, outcome: codes.length > 0 ? "error" : "ok" });
            metrics.requestDuration.observe({ operation: name, type }, durationMs / 1000);
            for (const code of codes) metrics.requestErrors.inc({ code });
            const principal = contextValue.principal;
            logger[codes.includes("INTERNAL_SERVER_ERROR") ? "error" : "info"](
              {
                requestId: contextValue.requestId,
                operation: operationName ?? null,
                type,
                durationMs: Math.round(durationMs * 1000) / 1000,
                status: response.http.status ?? 200,
                principal: principal?.subject ?? null,
                tenant: principal?.tenantId ?? null,
                via: principal?.via ?? null,
                ...(codes.length > 0 ? { errors: codes } : {}),
              },
              "graphql request",
            );
          } catch (error) {
            logger.error({ err: error }, "request observer failed");
          }
        },
      };
    },
  };
}
