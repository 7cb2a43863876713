import { createSourceEventStream, type ExecutionArgs, type ExecutionResult, execute, print } from "graphql";
import { canLapse, credentialLapse } from "../auth/authChecker.js";
import { BroadcastGroups, type BroadcastOptions, type CredentialCheck, isBroadcast, lapsedResult } from "./broadcast.js";
import type { GraphQLContext } from "./context.js";

type Result = ExecutionResult | Promise<ExecutionResult>;

const results = new WeakMap<object, Map<string, Result>>();

/**
 * graphql-js's `subscribe`, with the work of each event shared between subscribers: those with the
 * same operation (its text, name and variables) and the same rights (tenant and role: what every
 * read depends on) get, for one event, the result of one execution.
 * - A `broadcast` source, subscribed over a transport that can be written to directly (the
 *   context's `sendNext`: graphql-ws), joins a BroadcastGroup: one source, execution and JSON text
 *   per event for the whole group.
 * - Otherwise each subscriber keeps its own source and loop, and the execution is shared when the bus
 *   hands every listener the same object (in-process and Redis alike); the first state a subscription
 *   sends (executionUpdated) is its own.
 */
export function sharedSubscribe(options: BroadcastOptions): (args: ExecutionArgs) => Promise<AsyncGenerator<ExecutionResult> | ExecutionResult> {
  const groups = new BroadcastGroups(options);
  return async (args) => {
    const stream = await createSourceEventStream(args);
    if (!isAsyncIterable(stream)) return stream; // the errors of subscribing
    const key = shareKey(args);
    const context = (args.contextValue ?? {}) as Partial<GraphQLContext>;
    const { sendNext, unsent = () => 0 } = context;
    const check = credentialCheck(context);
    if (key !== null && sendNext && isBroadcast(stream)) return groups.join(key, stream, sharedArgs(args), { sendNext, unsent }, check);
    return eachOwn(stream, args, key, check);
  };
}

/** A subscriber's own loop over its own source, the execution shared through `results`. */
function eachOwn(stream: AsyncIterable<unknown>, args: ExecutionArgs, key: string | null, check: CredentialCheck | undefined): AsyncGenerator<ExecutionResult> {
  const shared = key === null ? args : sharedArgs(args);
  const run = (payload: unknown): Result => {
    if (key === null || typeof payload !== "object" || payload === null) return execute({ ...args, rootValue: payload });
    let byKey = results.get(payload);
    if (!byKey) results.set(payload, (byKey = new Map()));
    let result = byKey.get(key);
    if (!result) byKey.set(key, (result = execute({ ...shared, rootValue: payload })));
    return result;
  };
  const source = stream[Symbol.asyncIterator]();
  let lapsed = false;
  const mapped: AsyncGenerator<ExecutionResult> = {
    async next() {
      if (lapsed) return { done: true, value: undefined };
      const item = await source.next();
      if (item.done) return { done: true, value: undefined };
      const lapse = await check?.lapse();
      if (lapse) {
        // The UNAUTHENTICATED error is its last event; then it completes.
        lapsed = true;
        await source.return?.();
        return { done: false, value: lapsedResult(lapse) };
      }
      return { done: false, value: await run(item.value) };
    },
    async return() {
      await source.return?.();
      return { done: true, value: undefined };
    },
    async throw(error: unknown) {
      await source.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return mapped;
}

/** The subscriber's own credential check, for credentials that can lapse while it is subscribed. */
function credentialCheck(context: Partial<GraphQLContext>): CredentialCheck | undefined {
  const principal = context.principal;
  if (!principal || !canLapse(principal)) return undefined;
  const lapse = (): Error | null | Promise<Error | null> => {
    const answer = credentialLapse(principal, context.services?.apiKeys);
    // A check that cannot be made (the database unreachable) ends this subscriber, saying why, not its group.
    return answer instanceof Promise ? answer.catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))) : answer;
  };
  return { key: `${principal.apiKeyId ?? ""}|${principal.expiresAt?.getTime() ?? ""}`, lapse };
}

/**
 * The arguments a shared execution runs with: the rights every sharer has (tenant and role, the share
 * key), without the credentials of whoever subscribed first, which may lapse while the others' hold.
 */
function sharedArgs(args: ExecutionArgs): ExecutionArgs {
  const context = args.contextValue as GraphQLContext;
  if (!context.principal) return args;
  const { expiresAt: _expiresAt, apiKeyId: _apiKeyId, ...rights } = context.principal;
  return { ...args, contextValue: { ...context, principal: rights } };
}

/** What makes two subscribers' results the same; null: not shared (no principal). */
function shareKey(args: ExecutionArgs): string | null {
  const context = args.contextValue as Partial<GraphQLContext> | undefined;
  const role = context?.principal?.role;
  if (!context?.scope || !role) return null;
  return JSON.stringify([context.scope.tenantId, role, args.operationName ?? null, args.variableValues ?? null, print(args.document)]);
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as AsyncIterable<unknown> | null)?.[Symbol.asyncIterator] === "function";
}
