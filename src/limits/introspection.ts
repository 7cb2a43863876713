import type { ApolloServerPlugin } from "@apollo/server";
import { BREAK, type DocumentNode, GraphQLError, Kind, visit } from "graphql";
import type { GraphQLContext } from "../graphql/context.js";
import { SCHEMA_FIELDS } from "./queryLimits.js";

/** Who may read the schema (`__schema`, `__type`, `_service`): INTROSPECTION. */
export type IntrospectionMode = "on" | "authenticated" | "off";
export const INTROSPECTION_MODES: readonly IntrospectionMode[] = ["on", "authenticated", "off"];

/** Whether the document selects a field that answers the schema, anywhere (fragments included). */
function readsSchema(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    [Kind.FIELD](node) {
      if (SCHEMA_FIELDS.has(node.name.value)) {
        found = true;
        return BREAK;
      }
      return undefined;
    },
  });
  return found;
}

/**
 * `on`: anyone may read the schema (gateways and tools compose and explore without credentials);
 * `authenticated`: only callers with valid credentials; `off`: nobody, not even `_service` (compose
 * the supergraph from a schema file). `__typename` is always allowed.
 */
export function introspectionPlugin(mode: IntrospectionMode): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      if (mode === "on") return {};
      return {
        async didResolveOperation({ document, contextValue }) {
          if (!readsSchema(document)) return;
          if (mode === "off") {
            throw new GraphQLError("reading the schema (__schema, __type, _service) is turned off on this server (INTROSPECTION=off)", {
              extensions: { code: "INTROSPECTION_DISABLED", layer: "validation", retriable: false, http: { status: 403 } },
            });
          }
          if (!contextValue.principal) {
            throw new GraphQLError(`reading the schema needs credentials on this server (INTROSPECTION=authenticated)${contextValue.authError ? `: ${contextValue.authError.message}` : ""}`, {
              extensions: { code: "UNAUTHENTICATED", layer: "validation", retriable: false, http: { status: 401 } },
            });
          }
        },
      };
    },
  };
}
