import type { ProductMetrics } from "./metrics.js";

/**
 * `dspy_graphql_subscriptions_open{transport}`: wraps the result of a subscribe so that the gauge
 * counts it from now until it ends, however it ends (the source is done or fails, the client
 * completes, the socket closes), exactly once. Non-iterable results (a query over the socket, or
 * errors) pass through uncounted. graphql-ws calls it from `onOperation`; another transport (SSE)
 * wraps its results the same way with its own transport name.
 */
export function subscriptionCounter(metrics: ProductMetrics, transport: string): <T>(result: T) => T {
  metrics.subscriptionsOpen.set({ transport }, 0);
  return <T>(result: T): T => {
    if (!isAsyncIterable(result)) return result;
    const source = result[Symbol.asyncIterator]();
    let open = true;
    metrics.subscriptionsOpen.inc({ transport });
    const close = () => {
      if (!open) return;
      open = false;
      metrics.subscriptionsOpen.dec({ transport });
    };
    const counted: AsyncIterableIterator<unknown> = {
      async next(...args: [] | [unknown]) {
        try {
          const item = await source.next(...args);
          if (item.done) close();
          return item;
        } catch (error) {
          close();
          throw error;
        }
      },
      async return(value?: unknown) {
        close();
        return (await source.return?.(value)) ?? { done: true, value: undefined };
      },
      async throw(error?: unknown) {
        close();
        if (source.throw) return source.throw(error);
        throw error;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    return counted as T;
  };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === "object" && value !== null && typeof (value as Record<symbol, unknown>)[Symbol.asyncIterator] === "function";
}
