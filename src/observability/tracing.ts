import { AsyncLocalStorage } from "node:async_hooks";
import {
  type Attributes,
  type Context,
  type ContextManager,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  TraceFlags,
  context,
  isValidTraceId,
  trace,
} from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { Span as SdkSpan } from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";

/**
 * OpenTelemetry for the server (README: "Traces"). Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set:
 * then nothing is registered with the API, every span helper below returns at once, and no
 * `traceparent` is stored or sent. On, spans go over OTLP/HTTP (JSON) to `<endpoint>/v1/traces`.
 *
 * Trace context crosses three boundaries by hand, as a W3C `traceparent` string: the HTTP request
 * (a gateway's header), the job store (the execution row keeps the traceparent of the request that
 * created it, so its job continues that trace on whichever instance runs it) and the worker protocol
 * (a request's `traceparent`, bridge-py/PROTOCOL.md).
 */

export const TRACER_NAME = "dspy-subgraph";
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The active context lives in AsyncLocalStorage (what @opentelemetry/context-async-hooks does, which
 * is not a dependency here). A scope's context can be replaced from inside it (`enterSpan`): Apollo's
 * plugin hooks cannot wrap the execution they observe, so the GraphQL span is entered that way, in
 * the scope the HTTP middleware opened for the request.
 */
class ScopeContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<{ context: Context }>();

  active(): Context {
    return this.storage.getStore()?.context ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.storage.run({ context: ctx }, () => fn.call(thisArg, ...args));
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== "function") return target;
    const manager = this;
    const fn = target as unknown as (...args: unknown[]) => unknown;
    return function (this: unknown, ...args: unknown[]) {
      return manager.with(ctx, () => fn.apply(this, args));
    } as unknown as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }

  /** Replaces the context of the innermost scope; false outside any scope. */
  replace(ctx: Context): boolean {
    const store = this.storage.getStore();
    if (!store) return false;
    store.context = ctx;
    return true;
  }
}

/** Spans of every server of this process, to each running server's exporter (tests start several). */
class FanOutProcessor implements SpanProcessor {
  readonly targets = new Set<SpanProcessor>();
  onStart(span: SdkSpan, parent: Context): void {
    for (const target of this.targets) target.onStart(span, parent);
  }
  onEnd(span: ReadableSpan): void {
    for (const target of this.targets) target.onEnd(span);
  }
  async forceFlush(): Promise<void> {
    await Promise.all([...this.targets].map((t) => t.forceFlush()));
  }
  async shutdown(): Promise<void> {
    await Promise.all([...this.targets].map((t) => t.shutdown()));
  }
}

interface Registered {
  manager: ScopeContextManager;
  fanOut: FanOutProcessor;
  provider: BasicTracerProvider;
}
/** Set while at least one server of this process traces; the API's globals are registered meanwhile. */
let registered: Registered | undefined;

export interface Tracing {
  readonly enabled: boolean;
  /** Exports what is still buffered and stops this server's exporter. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, shutdown: async () => undefined };

/** Starts exporting this server's spans to `endpoint` (an OTLP/HTTP base URL), or does nothing without one. */
export function startTracing(endpoint: string | undefined, serviceName = TRACER_NAME): Tracing {
  if (!endpoint) return OFF;
  if (!registered) {
    const manager = new ScopeContextManager();
    const fanOut = new FanOutProcessor();
    const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }), spanProcessors: [fanOut] });
    context.setGlobalContextManager(manager);
    trace.setGlobalTracerProvider(provider);
    registered = { manager, fanOut, provider };
  }
  const own = registered;
  const url = `${endpoint.replace(/\/+$/, "")}/v1/traces`;
  // Batches of up to 512 spans, sent every second: a run's spans reach the collector soon after it ends.
  const processor = new BatchSpanProcessor(new OTLPTraceExporter({ url }), { scheduledDelayMillis: 1_000 });
  own.fanOut.targets.add(processor);
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    shutdown() {
      stopped ??= (async () => {
        own.fanOut.targets.delete(processor);
        await processor.shutdown().catch((error: unknown) => console.error("[tracing] export at shutdown failed:", error instanceof Error ? error.message : error));
        if (own.fanOut.targets.size === 0 && registered === own) {
          // The last tracing server of this process: back to the API's no-op globals.
          registered = undefined;
          trace.disable();
          context.disable();
        }
      })();
      return stopped;
    },
  };
}

/** Whether any server of this process traces (helpers below cost nothing when not). */
export function tracingEnabled(): boolean {
  return registered !== undefined;
}

/** Looked up per use: a tracer kept from before a (re-)registration would be a stale no-op. */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** The W3C traceparent of the active span, or undefined (tracing off, or no span). */
export function currentTraceparent(): string | undefined {
  if (!registered) return undefined;
  const span = trace.getSpanContext(context.active());
  return span && trace.isSpanContextValid(span) ? formatTraceparent(span) : undefined;
}

export function formatTraceparent(span: SpanContext): string {
  return `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

/** The trace id of a W3C traceparent, or null. */
export function traceIdOf(traceparent: string | null | undefined): string | null {
  const match = traceparent ? TRACEPARENT.exec(traceparent) : null;
  return match && isValidTraceId(match[1]!) ? match[1]! : null;
}

/** A context whose parent is the remote span `traceparent` names; ROOT_CONTEXT for none or a malformed one. */
export function contextFromTraceparent(traceparent: string | null | undefined): Context {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim().toLowerCase()) : null;
  if (!match) return ROOT_CONTEXT;
  const spanContext: SpanContext = { traceId: match[1]!, spanId: match[2]!, traceFlags: parseInt(match[3]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return trace.isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent; the active context when left out. */
  parent?: Context;
  /** Only when the parent is a span: no lone one-span traces for work nobody traced (e.g. a reconciler's requeue). */
  onlyInTrace?: boolean;
}

/**
 * Runs `fn` in a new active span, ended when `fn` settles; an error is recorded on it (its `code` as
 * `error.type`) and rethrown. With tracing off, `fn` runs with no span.
 */
export async function withSpan<T>(name: string, options: SpanOptions, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (!registered) return fn(undefined);
  const parent = options.parent ?? context.active();
  if (options.onlyInTrace && !trace.getSpanContext(parent)) return fn(undefined);
  const span = tracer().startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (error) {
    recordError(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Marks `span` failed with what `error` says (an AppError's code as `error.type`). */
export function recordError(span: Span, error: unknown): void {
  const code = typeof (error as { code?: unknown })?.code === "string" ? (error as { code: string }).code : error instanceof Error ? error.name : "Error";
  span.setAttribute("error.type", code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/**
 * Runs `fn` in a scope whose context starts as `parent` and that `enterSpan` may later replace (the
 * HTTP middleware opens one per request; the GraphQL plugin enters its span in it).
 */
export function inTraceScope<T>(parent: Context, fn: () => T): T {
  return registered ? registered.manager.with(parent, fn) : fn();
}

/** Makes `span` the active span of the current scope (see inTraceScope); false outside one. */
export function enterSpan(span: Span): boolean {
  return registered ? registered.manager.replace(trace.setSpan(context.active(), span)) : false;
}

export { SpanKind, SpanStatusCode };
export type { Span };
