import type { WorkerExitEvent, WorkerPool } from "../workers/WorkerPool.js";
import type { ProductMetrics } from "./metrics.js";

/** A pool's series: deaths and restarts as they happen, sizes read from the pool at scrape time. */
export function measureWorkerPool(pool: WorkerPool, metrics: ProductMetrics, name = "executions"): void {
  const labels = { pool: name };
  // Present at zero from the start, so a rate() over them has a baseline.
  metrics.workerRestarts.inc(labels, 0);
  metrics.workerDeaths.inc(labels, 0);
  pool.on("worker-restarting", () => metrics.workerRestarts.inc(labels));
  pool.on("worker-exit", (exit: WorkerExitEvent) => {
    if (!exit.expected) metrics.workerDeaths.inc(labels);
  });
  metrics.onScrape(() => {
    const ready = pool.info().filter((worker) => worker.ready);
    metrics.workers.set({ ...labels, state: "ready" }, ready.length);
    metrics.workers.set({ ...labels, state: "busy" }, ready.filter((worker) => worker.busy > 0).length);
    metrics.workerSlots.set({ ...labels, state: "total" }, ready.reduce((sum, worker) => sum + worker.concurrency, 0));
    metrics.workerSlots.set({ ...labels, state: "busy" }, ready.reduce((sum, worker) => sum + worker.busy, 0));
    metrics.workerWaiting.set(labels, pool.queued);
  });
}
