import path from "node:path";
import { AppError } from "./errors.js";

/** Everything the process reads from its environment, in one place (README: "Configuration"). */
export interface Config {
  port: number;
  host: string;
  /** `mysql://user:pass@host:port/db`, or undefined for the embedded SQLite file. */
  databaseUrl?: string;
  /** Folder for the embedded SQLite database. */
  dataDir: string;
  /** Tenant used for every request until authentication exists. */
  defaultTenant: string;
  /** MongoDB for Agenda's jobs, or undefined for the embedded job store (the relational database). */
  mongoUrl?: string;
  /** `python`: real DSPy in the worker pool; `in-process`: the deterministic stand-in (dummy model only). */
  adapter: "python" | "in-process";
  workers: {
    /** Local Python workers to start. */
    count: number;
    /** Requests one worker runs at once. */
    concurrency: number;
    /** ZeroMQ endpoint the pool binds; remote workers connect to it. */
    bind?: string;
  };
  executions: {
    maxAttempts: number;
    deadlineMs: number;
    retryInitialMs: number;
    retryMaxMs: number;
    waitMaxMs: number;
  };
  jobs: {
    pollMs: number;
    lockLifetimeMs: number;
    concurrency: number;
    /** In-process notification channel: a job this instance enqueues starts at once, not on the next poll (JOB_NOTIFICATIONS=0 turns it off). */
    notifications: boolean;
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const read = (name: string) => (env[name] === undefined || env[name] === "" ? undefined : env[name]);
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new AppError("BAD_CONFIG", `${name} must be an integer between ${min} and ${max}, got '${raw}'`);
    }
    return value;
  };
  const port = int("PORT", 4001, 0, 65535);
  const databaseUrl = read("DATABASE_URL");
  if (databaseUrl !== undefined && !/^mysql:\/\//.test(databaseUrl)) {
    throw new AppError("BAD_CONFIG", "DATABASE_URL must look like mysql://user:pass@host:port/db (leave it unset for the embedded SQLite file)");
  }
  const mongoUrl = read("MONGO_URL");
  if (mongoUrl !== undefined && !/^mongodb(\+srv)?:\/\//.test(mongoUrl)) {
    throw new AppError("BAD_CONFIG", "MONGO_URL must look like mongodb://host:port/db (leave it unset for the embedded job store)");
  }
  const adapter = read("DSPY_ADAPTER") ?? "python";
  if (adapter !== "python" && adapter !== "in-process") {
    throw new AppError("BAD_CONFIG", `DSPY_ADAPTER must be 'python' or 'in-process', got '${adapter}'`);
  }
  const workers = { count: int("WORKERS", 2, 0, 256), concurrency: int("WORKER_CONCURRENCY", 4, 1, 256), bind: read("WORKER_BIND") };
  const retryInitialMs = int("EXECUTION_RETRY_BACKOFF_MS", 1_000, 0, 3_600_000);
  return {
    port,
    host: env.HOST ?? "0.0.0.0",
    databaseUrl,
    dataDir: path.resolve(env.DATA_DIR ?? "data"),
    defaultTenant: env.DEFAULT_TENANT ?? "default",
    mongoUrl,
    adapter,
    workers,
    executions: {
      maxAttempts: int("EXECUTION_MAX_ATTEMPTS", 3, 1, 100),
      deadlineMs: int("EXECUTION_DEADLINE_MS", 120_000, 100, 86_400_000),
      retryInitialMs,
      retryMaxMs: Math.max(retryInitialMs, 30_000),
      waitMaxMs: int("EXECUTION_WAIT_MAX_MS", 60_000, 1, 3_600_000),
    },
    jobs: {
      pollMs: int("JOB_POLL_MS", 1_000, 10, 3_600_000),
      lockLifetimeMs: int("JOB_LOCK_LIFETIME_MS", 30_000, 300, 86_400_000),
      concurrency: int("JOB_CONCURRENCY", Math.max(1, workers.count * workers.concurrency), 1, 10_000),
      notifications: int("JOB_NOTIFICATIONS", 1, 0, 1) === 1,
    },
  };
}
