import type { WorkerExitEvent, WorkerPool, WorkerRestartEvent } from "../workers/WorkerPool.js";

/** How much of a dead worker's stderr a log line carries. */
const STDERR_TAIL_CHARS = 500;

/**
 * The one place that turns a pool's worker lifecycle events into log lines: one JSON line per
 * unexpected death (pid, exit code or signal, uptime), per scheduled restart (slot, delay), and per
 * worker the pool itself killed (silent, or stuck past its deadlines).
 */
export function logWorkerPool(pool: WorkerPool, write: (line: string) => void = (line) => console.error(line)): void {
  const log = (level: "info" | "warn", msg: string, fields: Record<string, unknown>) => write(JSON.stringify({ level, time: new Date().toISOString(), msg, ...fields }));
  pool.on("worker-exit", (exit: WorkerExitEvent) => {
    if (exit.expected) return;
    const { id: worker, slot, pid, code, signal, uptimeMs, ready } = exit;
    // Why it failed, when it failed by itself; a killed worker's stderr says nothing about its end.
    const stderr = code !== 0 && signal === null ? exit.stderr.slice(-STDERR_TAIL_CHARS) : "";
    log("warn", "worker died", { worker, slot, pid, code, signal, uptimeMs, ready, ...(stderr ? { stderr } : {}) });
  });
  pool.on("worker-restarting", ({ slot, id: worker, delayMs }: WorkerRestartEvent) => log("info", "worker restart scheduled", { slot, worker, delayMs }));
  pool.on("worker-silent", ({ id: worker, pid }: { id: string; pid: number | undefined }) => log("warn", "worker went silent; killing it", { worker, pid }));
  pool.on("worker-stuck", ({ id: worker, pid }: { id: string; pid: number | undefined }) => log("warn", "worker stuck past its deadlines; killing it", { worker, pid }));
}
