import type { WorkerExitEvent, WorkerPool, WorkerRestartEvent } from "../workers/WorkerPool.js";
import type { Logger } from "./logger.js";

/** How much of a dead worker's stderr a log line carries. */
const STDERR_TAIL_CHARS = 500;

/**
 * The one place that turns a pool's worker lifecycle events into log lines: one line per worker
 * ready (its birth), per unexpected death (pid, exit code or signal, uptime), per scheduled restart
 * (slot, delay), and per worker the pool itself killed (silent, or stuck past its deadlines).
 */
export function logWorkerPool(pool: WorkerPool, parent: Logger, name = "executions"): void {
  const logger = parent.child({ pool: name });
  pool.on("worker-ready", ({ id: worker, pid }: { id: string; pid: number | undefined }) => logger.info({ worker, pid }, "worker ready"));
  pool.on("worker-exit", (exit: WorkerExitEvent) => {
    if (exit.expected) return;
    const { id: worker, slot, pid, code, signal, uptimeMs, ready } = exit;
    // Why it failed, when it failed by itself; a killed worker's stderr says nothing about its end.
    const stderr = code !== 0 && signal === null ? exit.stderr.slice(-STDERR_TAIL_CHARS) : "";
    logger.warn({ worker, slot, pid, code, signal, uptimeMs, ready, ...(stderr ? { stderr } : {}) }, "worker died");
  });
  pool.on("worker-restarting", ({ slot, id: worker, delayMs }: WorkerRestartEvent) => logger.info({ slot, worker, delayMs }, "worker restart scheduled"));
  pool.on("worker-dropped", ({ id: worker, reason }: { id: string; reason: string }) => logger.info({ worker, reason }, "worker left the pool"));
  pool.on("worker-start-failed", (error: unknown) => logger.error({ err: error }, "worker failed to start"));
  pool.on("worker-silent", ({ id: worker, pid }: { id: string; pid: number | undefined }) => logger.warn({ worker, pid }, "worker went silent; killing it"));
  pool.on("worker-stuck", ({ id: worker, pid }: { id: string; pid: number | undefined }) => logger.warn({ worker, pid }, "worker stuck past its deadlines; killing it"));
}
