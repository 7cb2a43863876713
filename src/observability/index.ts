import type { RequestHandler } from "express";
import type { Database } from "../db/Database.js";
import type { ExecutionStateMachine } from "../executions/ExecutionStateMachine.js";
import type { JobScheduler } from "../jobs/JobScheduler.js";
import type { OptimizationScheduleService } from "../optimizations/OptimizationScheduleService.js";
import type { WorkerPool } from "../workers/WorkerPool.js";
import { observeExecutions, VersionLabels } from "./executionObserver.js";
import type { FeedbackService } from "../feedback/FeedbackService.js";
import { observeRuns } from "./runObserver.js";
import type { RunRow, RunStateMachine } from "../state/RunStateMachine.js";
import { errorSummary, observeJobs, observeSchedules } from "./jobLog.js";
import { createLogger, type Logger, type LoggerOptions } from "./logger.js";
import { ProductMetrics } from "./metrics.js";
import { measureQueue } from "./queueDepth.js";
import { requestObserverPlugin } from "./requestObserver.js";
import { subscriptionCounter } from "./subscriptionGauge.js";
import { logWorkerPool } from "./workerPoolLog.js";
import { measureWorkerPool } from "./workerPoolMetrics.js";

export { corsMiddleware } from "./cors.js";
export { requestIdMiddleware, requestIdOfResponse } from "./requestObserver.js";
export { errorSummary };
export type { Logger };

/**
 * Observability's home (DESIGN.md): one logger and one metrics registry per server, and the
 * listeners that turn what the pool, the jobs and the state machines emit into log lines and
 * series. The server only hands each emitter over; business code never formats a line or touches
 * a metric.
 */
export class Observability {
  readonly logger: Logger;
  readonly metrics = new ProductMetrics();

  constructor(options: LoggerOptions = {}) {
    this.logger = createLogger(options);
  }

  /** For createAdapter: logs and measures a worker pool (`executions` or `optimizations`) from before it starts. */
  poolObserver(name: string): (pool: WorkerPool) => void {
    return (pool) => {
      logWorkerPool(pool, this.logger, name);
      measureWorkerPool(pool, this.metrics, name);
    };
  }

  observeExecutions(stateMachine: ExecutionStateMachine): void {
    observeExecutions(stateMachine, this.logger, this.metrics, this.versionLabels);
  }

  /** Feedback scores by program version (dspy_program_version_feedback_score). */
  observeFeedback(feedback: FeedbackService): void {
    feedback.on("feedback", (given) => {
      try {
        this.metrics.versionFeedback.observe(this.versionLabels.of(given.programId, given.programVersionId), given.score);
      } catch (error) {
        this.logger.error({ err: error }, "feedback observer failed");
      }
    });
  }

  private readonly versionLabels = new VersionLabels();

  /** Evaluations' and optimizations' transitions (RunStateMachine). */
  observeRuns<E extends RunRow>(stateMachine: RunStateMachine<E, Partial<E>>): void {
    observeRuns(stateMachine, this.logger, this.metrics);
  }

  observeJobs(jobs: JobScheduler): void {
    observeJobs(jobs, this.logger, this.metrics);
  }

  observeSchedules(schedules: OptimizationScheduleService): void {
    observeSchedules(schedules, this.logger);
  }

  /** Queue depth and running executions, read from the database at scrape time. */
  measureQueue(database: Database): void {
    measureQueue(database, this.metrics);
  }

  requestPlugin(): ReturnType<typeof requestObserverPlugin> {
    return requestObserverPlugin(this.logger, this.metrics);
  }

  /** Wraps subscription results of one transport (`ws`; `sse` when it exists) so the open ones are counted. */
  subscriptionCounter(transport: string): <T>(result: T) => T {
    return subscriptionCounter(this.metrics, transport);
  }

  /** GET /metrics: the Prometheus text format. */
  metricsHandler(): RequestHandler {
    return (_req, res, next) => {
      this.metrics.scrape().then(({ contentType, body }) => {
        res.setHeader("Content-Type", contentType);
        res.send(body);
      }, next);
    };
  }

  /** An error nobody could handle (an express handler's, a shutdown step's): logged with its stack. */
  internalError(what: string): (error: unknown) => void {
    return (error) => this.logger.error({ err: error, what }, "internal error");
  }
}
