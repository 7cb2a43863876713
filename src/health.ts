import type { DspyAdapter } from "./adapters/DspyAdapter.js";
import type { Database } from "./db/Database.js";
import type { JobScheduler } from "./jobs/JobScheduler.js";

/** How long one part may take to answer before it counts as down. */
const CHECK_MS = 3_000;

export interface ReadinessReport {
  status: "ok" | "unavailable";
  /** The parts that are down, by name (empty when ready). */
  failing: string[];
  database: PartHealth;
  jobStore: PartHealth;
  workers: PartHealth;
  optimizationWorkers?: PartHealth;
  /** The extra checks' parts (e.g. `redis`), by their names. */
  [part: string]: PartHealth | string | string[] | undefined;
}

/**
 * A part readiness checks besides the built-in ones (Redis, when it is configured): `probe` resolves
 * with details to report, or throws the reason it is down.
 */
export interface ReadinessCheck {
  name: string;
  probe(): Promise<Record<string, unknown>>;
}

export interface ReadinessParts {
  database: Database;
  jobs: JobScheduler;
  adapter: DspyAdapter;
  optimizationAdapter: DspyAdapter;
  /** More parts this instance needs; each is checked like the built-in ones. */
  extraChecks?: readonly ReadinessCheck[];
}

/** What GET /healthz (liveness) says: the process serves requests. Nothing else is checked, so an outage elsewhere never gets it restarted. */
export function liveness(): { status: "ok"; uptimeS: number } {
  return { status: "ok", uptimeS: Math.round(process.uptime()) };
}

export interface PartHealth {
  ok: boolean;
  error?: string;
  [detail: string]: unknown;
}

/**
 * What GET /readyz reports: each part the product needs, checked now (workers: at least one ready
 * with the python adapter); 503 when one is down, `failing` naming it.
 */
export async function checkReadiness(parts: ReadinessParts): Promise<ReadinessReport> {
  const extras = parts.extraChecks ?? [];
  const [database, jobStore, workers, optimizationWorkers, ...extraResults] = await Promise.all([
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
    ...extras.map((extra) => check(extra.probe)),
  ]);
  const named: [string, PartHealth | undefined][] = [
    ["database", database],
    ["jobStore", jobStore],
    ["workers", workers],
    ["optimizationWorkers", optimizationWorkers],
    ...extras.map((extra, index): [string, PartHealth | undefined] => [extra.name, extraResults[index]]),
  ];
  const failing = named.filter(([, part]) => part && !part.ok).map(([name]) => name);
  const report: ReadinessReport = { status: failing.length === 0 ? "ok" : "unavailable", failing, database: database!, jobStore: jobStore!, workers: workers! };
  for (const [name, part] of named) if (part) report[name] = part;
  return report;
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
