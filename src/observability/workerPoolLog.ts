import type { WorkerExitEvent, WorkerLogEvent, WorkerPool, WorkerRestartEvent } from "../workers/WorkerPool.js";
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
  // What a local worker logs (JSON lines, bridge-py/dspy_bridge/jsonlog.py) joins this log, at its level and
  // with its fields (request, command, trace_id); anything else it writes (Python's own warnings) as a warning.
  pool.on("worker-log", ({ id: worker, line }: WorkerLogEvent) => {
    const entry = parseWorkerLine(line);
    if (!entry) return logger.warn({ worker, stderr: line.slice(0, STDERR_TAIL_CHARS) }, "worker output");
    const { level, msg, time: _time, worker: _worker, ...fields } = entry;
    const write = WORKER_LEVELS.has(String(level)) ? logger[level as "info"] : logger.info;
    write.call(logger, { worker, ...fields }, typeof msg === "string" ? msg : "worker log");
  });
}

const WORKER_LEVELS = new Set(["debug", "info", "warn", "error", "fatal"]);

function parseWorkerLine(line: string): Record<string, unknown> | null {
  if (!line.startsWith("{")) return null;
  try {
    const parsed: unknown = JSON.parse(line);
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
