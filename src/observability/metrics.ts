import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Seconds, from a cheap local round trip to a long LM chain. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * Every series the product exports on /metrics (README: "Operating", "Metrics"), in one registry
 * per server (so two servers in one test process do not share counts). Only the listeners in this
 * folder touch them. No label carries an id of a user's object, except the per-version series' program
 * and version ids (bounded); labels fed by users (operation names, model strings) go through a
 * BoundedLabel first.
 */
export class ProductMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: "dspy_graphql_requests_total",
    help: "GraphQL requests over HTTP, by operation name (bounded), operation type and outcome (ok, error).",
    labelNames: ["operation", "type", "outcome"] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: "dspy_graphql_request_duration_seconds",
    help: "Duration of GraphQL requests over HTTP, from receipt to response, by operation name (bounded) and type.",
    labelNames: ["operation", "type"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly requestErrors = new Counter({
    name: "dspy_graphql_errors_total",
    help: "Errors in GraphQL responses, by extensions.code.",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });
  readonly subscriptionsOpen = new Gauge({
    name: "dspy_graphql_subscriptions_open",
    help: "Subscriptions open on this instance, by transport.",
    labelNames: ["transport"] as const,
    registers: [this.registry],
  });

  readonly executions = new Counter({
    name: "dspy_executions_total",
    help: "Executions that reached a final status on this instance (COMPLETED, FAILED, CANCELLED), by the adapter that ran their last attempt (native, python, in-process; none if none ran).",
    labelNames: ["status", "adapter"] as const,
    registers: [this.registry],
  });
  // Per program version (README "Release management"): the one place ids are labels, bounded to
  // MAX_VERSION_SERIES program/version pairs per instance (later ones count as program_id/version_id "other").
  readonly versionExecutions = new Counter({
    name: "dspy_program_version_executions_total",
    help: "Executions that reached a final status on this instance, by program, version, the label that chose the version (none without one) and status.",
    labelNames: ["program_id", "version_id", "label", "status"] as const,
    registers: [this.registry],
  });
  readonly versionLatency = new Histogram({
    name: "dspy_program_version_latency_seconds",
    help: "From queued to COMPLETED or FAILED, by program and version.",
    labelNames: ["program_id", "version_id", "status"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly versionTokens = new Counter({
    name: "dspy_program_version_tokens_total",
    help: "LM tokens of finished executions, by program, version and kind (prompt, completion).",
    labelNames: ["program_id", "version_id", "kind"] as const,
    registers: [this.registry],
  });
  readonly versionFeedback = new Histogram({
    name: "dspy_program_version_feedback_score",
    help: "Feedback scores (0–1) given on this instance, by program and version of the execution (sum / count is the mean).",
    labelNames: ["program_id", "version_id"] as const,
    buckets: [0, 0.25, 0.5, 0.75, 1],
    registers: [this.registry],
  });
  readonly runs = new Counter({
    name: "dspy_runs_total",
    help: "Evaluations and optimizations that reached a final status on this instance, by kind and status.",
    labelNames: ["kind", "status"] as const,
    registers: [this.registry],
  });
  readonly runTransitions = new Counter({
    name: "dspy_run_transitions_total",
    help: "Evaluation and optimization state transitions made on this instance, by kind, from and to status (from is NONE at creation).",
    labelNames: ["kind", "from", "to"] as const,
    registers: [this.registry],
  });
  readonly executionTransitions = new Counter({
    name: "dspy_execution_transitions_total",
    help: "Execution state transitions made on this instance, by from and to status (from is NONE at creation).",
    labelNames: ["from", "to"] as const,
    registers: [this.registry],
  });
  readonly executionDuration = new Histogram({
    name: "dspy_execution_duration_seconds",
    help: "From the start of an execution's last attempt to its final status, by status.",
    labelNames: ["status"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly pickupLatency = new Histogram({
    name: "dspy_execution_pickup_seconds",
    help: "From PENDING to RUNNING, by attempt (first: the queue's latency; retry: includes the retry backoff).",
    labelNames: ["attempt"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: "dspy_execution_queue_depth",
    help: "Executions PENDING in the database (all instances, all tenants), read at scrape time.",
    registers: [this.registry],
  });
  readonly executionsRunning = new Gauge({
    name: "dspy_executions_running",
    help: "Executions RUNNING in the database (all instances, all tenants), read at scrape time.",
    registers: [this.registry],
  });

  readonly lmCalls = new Counter({
    name: "dspy_lm_calls_total",
    help: "LM calls recorded in the traces of attempts that ended on this instance, by model (bounded).",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly lmTokens = new Counter({
    name: "dspy_lm_tokens_total",
    help: "Tokens of those LM calls, by model (bounded) and kind (prompt, completion).",
    labelNames: ["model", "kind"] as const,
    registers: [this.registry],
  });
  readonly lmLatency = new Histogram({
    name: "dspy_lm_call_duration_seconds",
    help: "Latency of those LM calls, by model (bounded).",
    labelNames: ["model"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly lmErrors = new Counter({
    name: "dspy_lm_errors_total",
    help: "LM calls that raised, and attempts that failed in the lm layer without such a call in their trace (model unknown), by model (bounded).",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });

  readonly workers = new Gauge({
    name: "dspy_workers",
    help: "Workers connected to a pool, by pool (executions, optimizations) and state (ready, busy: with at least one request running).",
    labelNames: ["pool", "state"] as const,
    registers: [this.registry],
  });
  readonly workerSlots = new Gauge({
    name: "dspy_worker_slots",
    help: "Request slots of a pool's ready workers, by pool and state (total, busy).",
    labelNames: ["pool", "state"] as const,
    registers: [this.registry],
  });
  readonly workerWaiting = new Gauge({
    name: "dspy_worker_queue_depth",
    help: "Requests waiting for a free worker slot, by pool.",
    labelNames: ["pool"] as const,
    registers: [this.registry],
  });
  readonly workerRestarts = new Counter({
    name: "dspy_worker_restarts_total",
    help: "Local workers restarted after they died, by pool.",
    labelNames: ["pool"] as const,
    registers: [this.registry],
  });
  readonly workerDeaths = new Counter({
    name: "dspy_worker_deaths_total",
    help: "Local workers that exited without being asked to, by pool.",
    labelNames: ["pool"] as const,
    registers: [this.registry],
  });

  readonly jobFailures = new Counter({
    name: "dspy_job_handler_failures_total",
    help: "Job handlers that failed unexpectedly (not a run's own failure, which its status records), by job kind.",
    labelNames: ["job"] as const,
    registers: [this.registry],
  });

  /** Gauges read at scrape time (queue depth, pool sizes): each refreshes its series; a failing one leaves them as they were. */
  private readonly refreshers: (() => Promise<void> | void)[] = [];

  constructor() {
    // Process CPU, memory, event-loop lag, GC: what an operator reads first.
    collectDefaultMetrics({ register: this.registry });
  }

  onScrape(refresh: () => Promise<void> | void): void {
    this.refreshers.push(refresh);
  }

  /** The text a Prometheus scrape gets. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    await Promise.all(this.refreshers.map(async (refresh) => {
      try {
        await refresh();
      } catch {
        // A part that is down (readiness says which) must not take the other series with it.
      }
    }));
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
