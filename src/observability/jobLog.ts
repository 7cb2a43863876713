import type { JobScheduler } from "../jobs/JobScheduler.js";
import type { OptimizationScheduleService } from "../optimizations/OptimizationScheduleService.js";
import type { Logger } from "./logger.js";
import type { ProductMetrics } from "./metrics.js";

/** The first line of an error's message, bounded: no driver's full text with its SQL, no stack. */
export function errorSummary(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0].slice(0, 300);
}

/** One line per job handler failure, job store error and lost lock renewal; the failures counted by job kind. */
export function observeJobs(jobs: JobScheduler, logger: Logger, metrics: ProductMetrics): void {
  const log = logger.child({ component: "jobs" });
  jobs.on("handler-failed", ({ job, attempt, maxAttempts, retryInMs, error }) => {
    metrics.jobFailures.inc({ job });
    const fields = { job, attempt, maxAttempts, retryInMs, error: errorSummary(error) };
    if (retryInMs === null) log.error(fields, "job handler failed; left failed in the job store");
    else log.warn(fields, "job handler failed; runs again");
  });
  jobs.on("store-error", (error) => log.error({ error: errorSummary(error) }, "job store error"));
  jobs.on("lock-renewal-failed", ({ job, error }) => log.warn({ job, error: errorSummary(error) }, "could not renew a job lock"));
}

/** One line per skipped or refused firing of an optimization schedule and per failed promotion. */
export function observeSchedules(schedules: OptimizationScheduleService, logger: Logger): void {
  const log = logger.child({ component: "schedules" });
  schedules.on("firing-skipped", (fields) => log.warn(fields, "scheduled optimization skipped: the previous one is unfinished"));
  schedules.on("firing-refused", ({ scheduleId, error }) => log.error({ scheduleId, error: errorSummary(error) }, "scheduled optimization refused"));
  schedules.on("promotion-failed", ({ optimizationId, error }) => log.error({ optimizationId, error: errorSummary(error) }, "promoting a scheduled optimization failed"));
}
