import assert from "node:assert/strict";
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

export interface GraphQLResponse<T = Record<string, any>> {
  data?: T | null;
  errors?: { message: string; path?: string[]; extensions?: Record<string, any> }[];
}

/** POSTs one operation to the subgraph, as any HTTP client would. */
export async function graphql<T = Record<string, any>>(url: string, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  try {
    return JSON.parse(text) as GraphQLResponse<T>;
  } catch {
    throw new Error(`non-JSON response ${response.status}: ${text.slice(0, 300)}`);
  }
}

/** The operation succeeded; returns its data. */
export function expectData<T>(response: GraphQLResponse<T>): T {
  assert.equal(response.errors, undefined, `unexpected errors: ${JSON.stringify(response.errors)}`);
  assert.ok(response.data, "no data");
  return response.data;
}

/** The operation failed with one error of `code` (and, when given, at input `path`); no internals leaked. */
export function expectError(response: GraphQLResponse, code: string, path?: string): { message: string; extensions?: Record<string, any> } {
  assert.ok(response.errors && response.errors.length > 0, `expected ${code}, got data ${JSON.stringify(response.data)}`);
  const [error] = response.errors;
  assert.equal(error.extensions?.code, code, `expected ${code}, got ${JSON.stringify(error)}`);
  if (path !== undefined) assert.equal(error.extensions?.path, path, `wrong path in ${JSON.stringify(error)}`);
  assertNoInternals(JSON.stringify(response));
  return error;
}

/** No SQL, driver or stack-trace text in anything a client sees. */
export function assertNoInternals(text: string): void {
  for (const marker of [/SQLITE_/, /\bER_[A-Z_]+/, /QueryFailedError/, /\s+at \S+ \(/, /INSERT INTO/, /SELECT /, /stacktrace/i, /TypeORM/]) {
    assert.ok(!marker.test(text), `response leaks internals (${marker}): ${text.slice(0, 500)}`);
  }
}

export function wsClient(url: string): Client {
  return createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
}

/** Subscribes and collects results until `count` arrived (or an error / timeout). */
export function collect<T>(client: Client, query: string, variables: Record<string, unknown>, count: number, timeoutMs = 10_000): { ready: Promise<void>; done: Promise<T[]>; unsubscribe(): void } {
  const results: T[] = [];
  let unsubscribe = () => {};
  let markReady = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const done = new Promise<T[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${results.length}/${count} results: ${JSON.stringify(results)}`)), timeoutMs);
    unsubscribe = client.subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          if (value.errors) {
            clearTimeout(timer);
            reject(Object.assign(new Error(value.errors[0].message), { errors: value.errors }));
            return;
          }
          results.push(value.data as T);
          if (results.length >= count) {
            clearTimeout(timer);
            resolve(results);
          }
        },
        error: (error) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : Object.assign(new Error("subscription error"), { errors: error }));
        },
        complete: () => {
          clearTimeout(timer);
          resolve(results);
        },
      },
    );
    client.on("connected", () => setTimeout(markReady, 200));
  });
  return { ready, done, unsubscribe: () => unsubscribe() };
}
