import type { DspyAdapter } from "./adapters/DspyAdapter.js";
import type { Database } from "./db/Database.js";
import type { JobScheduler } from "./jobs/JobScheduler.js";

/** How long one part may take to answer before it counts as down. */
const CHECK_MS = 3_000;

export interface HealthReport {
  status: "ok" | "unavailable";
  database: PartHealth;
  jobStore: PartHealth;
  workers: PartHealth;
  optimizationWorkers?: PartHealth;
}

interface PartHealth {
  ok: boolean;
  error?: string;
  [detail: string]: unknown;
}

/** What GET /healthz reports: each part the product needs, checked now; 503 when one is down. */
export async function checkHealth(parts: { database: Database; jobs: JobScheduler; adapter: DspyAdapter; optimizationAdapter: DspyAdapter }): Promise<HealthReport> {
  const [database, jobStore, workers, optimizationWorkers] = await Promise.all([
    check(async () => {
      await parts.database.dataSource.query("SELECT 1");
      return { dialect: parts.database.dialect };
    }),
    check(async () => ({ queued: await parts.jobs.countJobs() })),
    check(async () => {
      const health = await parts.adapter.health();
      if (!health.ok) throw new Error("no worker is ready");
      return health.details;
    }),
    parts.optimizationAdapter === parts.adapter
      ? undefined
      : check(async () => {
          const health = await parts.optimizationAdapter.health();
          if (!health.ok) throw new Error("no worker is ready");
          return health.details;
        }),
  ]);
  const all = [database, jobStore, workers, optimizationWorkers].filter((part): part is PartHealth => part !== undefined);
  return { status: all.every((part) => part.ok) ? "ok" : "unavailable", database, jobStore, workers, ...(optimizationWorkers ? { optimizationWorkers } : {}) };
}

async function check(probe: () => Promise<Record<string, unknown>>): Promise<PartHealth> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_MS} ms`)), CHECK_MS);
    });
    return { ok: true, ...(await Promise.race([probe(), timeout])) };
  } catch (error) {
    // The reason only, never a driver's full text with its SQL.
    return { ok: false, error: error instanceof Error ? error.message.split("\n")[0].slice(0, 200) : "unreachable" };
  } finally {
    clearTimeout(timer);
  }
}
