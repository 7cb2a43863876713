import { type Client, createClient } from "graphql-ws/client";
import type { TypedDocumentString } from "../generated/graphql";
import { ApiError, apiErrorFrom, asApiError } from "./errors";
import { GRAPHQL_URL } from "./http";
import { type Credential, connectionParams } from "./session";

/** The server closes a connection whose connection_init carries no valid credentials with 4401 (README). */
const WS_UNAUTHENTICATED = 4401;

/**
 * One graphql-ws connection per signed-in session, on the API's own path: every live view
 * multiplexes its subscriptions over it. It reconnects after a dropped connection (graphql-ws
 * subscribes again), but never after the server refused the credential.
 */
export function createLiveClient(credential: Credential, onRefused: (error: ApiError) => void): Client {
  return createClient({
    url: GRAPHQL_URL.replace(/^http/, "ws"),
    connectionParams: connectionParams(credential),
    lazy: true,
    keepAlive: 20_000,
    retryAttempts: 30,
    shouldRetry: (event) => !isRefusal(event),
    on: {
      closed: (event) => {
        if (isRefusal(event)) onRefused(new ApiError("UNAUTHENTICATED", refusalReason(event)));
      },
    },
  });
}

function isRefusal(event: unknown): event is CloseEvent {
  return typeof event === "object" && event !== null && (event as CloseEvent).code === WS_UNAUTHENTICATED;
}

function refusalReason(event: CloseEvent): string {
  return (event.reason || "credentials refused").replace(/^UNAUTHENTICATED:\s*/, "");
}

export interface SubscriptionHandlers<TResult> {
  next(data: TResult): void;
  error(error: ApiError): void;
  complete?(): void;
}

/** Subscribes with a typed document; returns the function that ends the subscription. */
export function subscribe<TResult, TVariables>(
  client: Client,
  document: TypedDocumentString<TResult, TVariables>,
  variables: TVariables,
  handlers: SubscriptionHandlers<TResult>,
): () => void {
  return client.subscribe<TResult>(
    { query: document.toString(), variables: variables as Record<string, unknown> },
    {
      next: (result) => {
        if (result.errors && result.errors.length > 0) handlers.error(apiErrorFrom(result.errors));
        else if (result.data) handlers.next(result.data);
      },
      error: (error) => {
        if (Array.isArray(error)) handlers.error(apiErrorFrom(error));
        else if (isRefusal(error)) handlers.error(new ApiError("UNAUTHENTICATED", refusalReason(error)));
        else if (typeof error === "object" && error !== null && "code" in error && "reason" in error) {
          const close = error as CloseEvent;
          handlers.error(new ApiError("CONNECTION_CLOSED", `live connection closed (${close.code}${close.reason ? `: ${close.reason}` : ""})`, { retriable: true }));
        } else handlers.error(asApiError(error));
      },
      complete: () => handlers.complete?.(),
    },
  );
}
