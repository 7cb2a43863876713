import type { Database } from "../db/Database.js";
import type { ProductMetrics } from "./metrics.js";

/**
 * Executions PENDING (the queue) and RUNNING, over every tenant and instance: one grouped count on
 * the (status, updatedAt) index per scrape, so any instance reports the same depth.
 */
export function measureQueue(database: Database, metrics: ProductMetrics): void {
  metrics.onScrape(async () => {
    const rows = (await database.dataSource.query("SELECT status, COUNT(*) AS n FROM execution WHERE status IN ('PENDING', 'RUNNING') GROUP BY status")) as { status: string; n: number | string }[];
    const count = (status: string) => Number(rows.find((row) => row.status === status)?.n ?? 0);
    metrics.queueDepth.set(count("PENDING"));
    metrics.executionsRunning.set(count("RUNNING"));
  });
}
