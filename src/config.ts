import path from "node:path";
import { RUN_LIMITS } from "./catalog.js";
import { AppError } from "./errors.js";
import { EgressPolicy } from "./languageModels/egressPolicy.js";
import { INTROSPECTION_MODES, type IntrospectionMode } from "./limits/introspection.js";
import { SecretEnvPolicy } from "./languageModels/secretEnvPolicy.js";
import { type CorsOrigins, parseCorsOrigins } from "./observability/cors.js";
import { LOG_LEVELS, type LogLevel } from "./observability/logger.js";
import { type SecretKeyring, loadKeyring } from "./secrets/SecretBox.js";

/**
 * Every environment variable the server reads (or is planned to), in one list: config reads nothing
 * else (its `read` takes only these names), and a language model's `secretEnv` may never name one
 * of them (SecretEnvPolicy), so the server's own secrets cannot be sent to an LM endpoint.
 */
export const SERVER_ENV = [
  "PORT", "HOST", "DATABASE_URL", "DATA_DIR", "DEFAULT_TENANT", "MONGO_URL", "REDIS_URL",
  "AUTH_DEV_MODE", "AUTH_JWT_SECRET", "AUTH_JWKS", "AUTH_ISSUER", "AUTH_AUDIENCE",
  "SECRETS_KEY", "SECRETS_KEY_PREVIOUS", "LM_SECRET_ENV_ALLOW", "LM_EGRESS_ALLOW",
  "DSPY_ADAPTER", "DSPY_CACHEDIR", "WORKERS", "WORKER_CONCURRENCY", "WORKER_BIND",
  "EXECUTION_MAX_ATTEMPTS", "EXECUTION_RETRY_BACKOFF_MS", "EXECUTION_DEADLINE_MS", "EXECUTION_WAIT_MAX_MS",
  "EXECUTION_CANCEL_POLL_MS", "EXECUTION_RECONCILE_MS", "MAX_LM_CALLS_PER_EXECUTION",
  "EVALUATION_CONCURRENCY", "EVALUATION_DEADLINE_MS",
  "OPTIMIZATION_CONCURRENCY", "OPTIMIZATION_DEADLINE_MS", "OPTIMIZATION_WORKERS", "OPTIMIZATION_WORKER_BIND",
  "JOB_POLL_MS", "JOB_LOCK_LIFETIME_MS", "JOB_CONCURRENCY", "JOB_NOTIFICATIONS", "JOB_HISTORY_MS",
  "MAX_QUERY_DEPTH", "MAX_QUERY_COMPLEXITY", "MAX_REQUEST_BYTES", "EXECUTE_RATE_LIMIT", "EXECUTE_RATE_BURST",
  "INTROSPECTION", "MAX_SUBSCRIPTIONS_PER_CONNECTION", "SUBSCRIBER_BUFFER_BYTES", "LOG_LEVEL", "LOG_INTERNAL_ERRORS", "OTEL_EXPORTER_OTLP_ENDPOINT", "CORS_ORIGINS",
] as const;
export type ServerEnvName = (typeof SERVER_ENV)[number];

/** Everything the process reads from its environment, in one place (README: "Configuration"). */
export interface Config {
  port: number;
  host: string;
  /** `mysql://user:pass@host:port/db`, or undefined for the embedded SQLite file. */
  databaseUrl?: string;
  /** Folder for the embedded SQLite database. */
  dataDir: string;
  /** The tenant that development mode (AUTH_DEV_MODE=1) acts in. */
  defaultTenant: string;
  auth: AuthConfig;
  /** MongoDB for Agenda's jobs, or undefined for the embedded job store (the relational database). */
  mongoUrl?: string;
  /** REDIS_URL: the cross-instance event bus, job notifications and shared rate limits. Unset: in-process. */
  redisUrl?: string;
  /**
   * `auto`: Predict / ChainOfThought programs on OpenAI-compatible models in Node (src/native), the rest in
   * the worker pool; `native`: the same, the dummy model too; `python`: real DSPy in the worker pool for
   * everything; `in-process`: the deterministic stand-in (dummy model only).
   */
  adapter: "auto" | "native" | "python" | "in-process";
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
    /** How often a running attempt renews its lease (at most), which is also how it sees a cancel made on another instance. */
    cancelPollMs: number;
    /** How often the reconciler looks for PENDING/RUNNING executions that no job would run. */
    reconcileMs: number;
    /** LM calls one execution may make (agents, loops, nested program calls included). */
    maxLmCalls: number;
  };
  evaluations: {
    /** Evaluations one instance runs at once (their own job slots, besides executions'). */
    concurrency: number;
    /** Deadline of one whole evaluation in its worker. */
    deadlineMs: number;
  };
  optimizations: {
    /** Optimizations one instance runs at once (their own job slots). */
    concurrency: number;
    /** Deadline of one whole optimization in its worker. */
    deadlineMs: number;
    /**
     * Local Python workers of the pool evaluations and optimizations run on, apart from executions'
     * (0 without `workerBind`: they share the executions' pool).
     */
    workers: number;
    /** ZeroMQ endpoint that pool binds for remote workers. */
    workerBind?: string;
  };
  /** Keys for API keys stored encrypted (README: "Secrets"). */
  secrets: SecretKeyring;
  /** Which environment variables a language model's `secretEnv` may name (LM_SECRET_ENV_ALLOW). */
  secretEnv: SecretEnvPolicy;
  /** Where a language model's `apiBase` may point beyond public addresses (LM_EGRESS_ALLOW). */
  egress: EgressPolicy;
  limits: LimitsConfig;
  /** OpenTelemetry (README: "Traces"): spans go over OTLP/HTTP to this base URL; unset, tracing is off. */
  tracing: { otlpEndpoint?: string };
  /** Lowest level the JSON logs carry (LOG_LEVEL). */
  logLevel: LogLevel;
  /** Browser origins allowed to call the API (CORS_ORIGINS); undefined: no CORS headers at all. */
  corsOrigins?: CorsOrigins;
  jobs: {
    pollMs: number;
    lockLifetimeMs: number;
    concurrency: number;
    /** In-process notification channel: a job this instance enqueues starts at once, not on the next poll (JOB_NOTIFICATIONS=0 turns it off). */
    notifications: boolean;
    /** How long finished jobs stay in the store (JOB_HISTORY_MS), so Agendash shows them; 0: removed at once. */
    historyMs: number;
  };
}

/** Request limits (README: "Limits"). */
export interface LimitsConfig {
  /** Deepest field nesting an operation may have (MAX_QUERY_DEPTH). */
  maxQueryDepth: number;
  /** Highest estimated cost an operation may have (MAX_QUERY_COMPLEXITY); connections cost per `first`. */
  maxQueryComplexity: number;
  /** Largest HTTP body or graphql-ws message, in bytes (MAX_REQUEST_BYTES). */
  maxRequestBytes: number;
  /** Who may read the schema: `on` (anyone), `authenticated`, `off` (INTROSPECTION). */
  introspection: IntrospectionMode;
  /** Subscriptions one graphql-ws connection may hold at once (MAX_SUBSCRIPTIONS_PER_CONNECTION). */
  maxSubscriptionsPerConnection: number;
  /** executionOutput: bytes of output one subscriber may leave unread before it gets SLOW_SUBSCRIBER. */
  subscriberBufferBytes: number;
  /** Token bucket per principal for executeProgram (EXECUTE_RATE_LIMIT, EXECUTE_RATE_BURST); undefined: off. */
  executeRate?: RateLimitConfig;
}

export interface RateLimitConfig {
  /** Tokens added per millisecond. */
  perMs: number;
  /** Bucket size: how many calls may come at once after a quiet spell. */
  burst: number;
  /** As configured, e.g. "60/minute", for messages. */
  text: string;
}

const PERIOD_MS: Record<string, number> = { second: 1_000, minute: 60_000, hour: 3_600_000 };

/** `N/second|minute|hour` (or `off`), with an optional burst (default N). */
export function parseRateLimit(raw: string, burstRaw: string | undefined): RateLimitConfig | undefined {
  if (raw === "off" || raw === "0") return undefined;
  const match = /^(\d+)\s*\/\s*(second|minute|hour)$/.exec(raw.trim());
  const count = match ? Number(match[1]) : NaN;
  if (!match || !Number.isSafeInteger(count) || count < 1) {
    throw new AppError("BAD_CONFIG", `EXECUTE_RATE_LIMIT must look like 60/minute (a positive count per second, minute or hour) or be off, got '${raw}'`);
  }
  const burst = burstRaw === undefined ? count : Number(burstRaw);
  if (!Number.isSafeInteger(burst) || burst < 1) throw new AppError("BAD_CONFIG", `EXECUTE_RATE_BURST must be a positive integer, got '${burstRaw}'`);
  return { perMs: count / PERIOD_MS[match[2]], burst, text: `${count}/${match[2]}` };
}

/** An OTLP/HTTP base URL (the exporters append /v1/traces), as OpenTelemetry's own variable means it. */
function otlpEndpoint(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!/^https?:\/\/[^/\s]+/i.test(raw)) throw new AppError("BAD_CONFIG", `OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL (OTLP/HTTP), got '${raw}'`);
  return raw;
}

function introspectionMode(raw: string | undefined): IntrospectionMode {
  const mode = raw ?? "on";
  if (!(INTROSPECTION_MODES as readonly string[]).includes(mode)) throw new AppError("BAD_CONFIG", `INTROSPECTION must be one of ${INTROSPECTION_MODES.join(", ")}, got '${mode}'`);
  return mode as IntrospectionMode;
}

function logLevel(raw: string | undefined): LogLevel {
  const level = raw ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new AppError("BAD_CONFIG", `LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got '${level}'`);
  return level as LogLevel;
}

function corsOrigins(raw: string | undefined): CorsOrigins | undefined {
  try {
    return parseCorsOrigins(raw);
  } catch (error) {
    throw new AppError("BAD_CONFIG", error instanceof Error ? error.message : String(error));
  }
}

/** How callers authenticate (README: "Authentication and roles"). API keys are always accepted. */
export interface AuthConfig {
  /** AUTH_DEV_MODE=1: no authentication, every request acts as admin of the default tenant. */
  devMode: boolean;
  /** Bearer JWTs, when AUTH_JWT_SECRET (HS256) or AUTH_JWKS is set; issuer and audience are then required. */
  jwt?: { secret?: string; jwks?: string; issuer: string; audience: string };
}

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (32 bytes). */
const MIN_SECRET_BYTES = 32;

/** DSPY_ADAPTER: auto (native where src/native runs the program identically, else the Python workers), native (the dummy model too), python, in-process. */
const ADAPTERS: readonly Config["adapter"][] = ["auto", "native", "python", "in-process"];

function loadAuthConfig(read: (name: ServerEnvName) => string | undefined): AuthConfig {
  const devRaw = read("AUTH_DEV_MODE") ?? "0";
  if (devRaw !== "0" && devRaw !== "1") throw new AppError("BAD_CONFIG", `AUTH_DEV_MODE must be 0 or 1, got '${devRaw}'`);
  const devMode = devRaw === "1";
  const secret = read("AUTH_JWT_SECRET");
  const jwks = read("AUTH_JWKS");
  const issuer = read("AUTH_ISSUER");
  const audience = read("AUTH_AUDIENCE");
  if (secret === undefined && jwks === undefined) {
    if (issuer !== undefined || audience !== undefined) {
      throw new AppError("BAD_CONFIG", "AUTH_ISSUER / AUTH_AUDIENCE are set but neither AUTH_JWT_SECRET nor AUTH_JWKS is: no token could ever be checked against them");
    }
    return { devMode };
  }
  if (devMode) throw new AppError("BAD_CONFIG", "AUTH_DEV_MODE=1 turns authentication off; it cannot be combined with AUTH_JWT_SECRET or AUTH_JWKS");
  if (secret !== undefined && jwks !== undefined) throw new AppError("BAD_CONFIG", "set AUTH_JWT_SECRET or AUTH_JWKS, not both");
  if (secret !== undefined && Buffer.byteLength(secret, "utf8") < MIN_SECRET_BYTES) {
    throw new AppError("BAD_CONFIG", `AUTH_JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes (HS256 needs a 256-bit key)`);
  }
  if (jwks !== undefined && /^[a-z]+:\/\//i.test(jwks)) {
    const url = new URL(jwks);
    const loopback = url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]";
    if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
      throw new AppError("BAD_CONFIG", "AUTH_JWKS must be a file path or an https:// URL (plain http only on localhost)");
    }
  }
  if (issuer === undefined || audience === undefined) {
    throw new AppError("BAD_CONFIG", "AUTH_ISSUER and AUTH_AUDIENCE are required with AUTH_JWT_SECRET or AUTH_JWKS: tokens are checked against both");
  }
  return { devMode, jwt: { secret, jwks: jwks === undefined ? undefined : /^[a-z]+:\/\//i.test(jwks) ? jwks : path.resolve(jwks), issuer, audience } };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const read = (name: ServerEnvName) => (env[name] === undefined || env[name] === "" ? undefined : env[name]);
  const int = (name: ServerEnvName, fallback: number, min: number, max: number): number => {
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
  const redisUrl = read("REDIS_URL");
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new AppError("BAD_CONFIG", "REDIS_URL must look like redis://host:port (leave it unset for the in-process event bus)");
  }
  const adapter = read("DSPY_ADAPTER") ?? "auto";
  if (!ADAPTERS.includes(adapter as Config["adapter"])) {
    throw new AppError("BAD_CONFIG", `DSPY_ADAPTER must be one of ${ADAPTERS.map((a) => `'${a}'`).join(", ")}, got '${adapter}'`);
  }
  const workers = { count: int("WORKERS", 2, 0, 256), concurrency: int("WORKER_CONCURRENCY", 4, 1, 256), bind: read("WORKER_BIND") };
  const retryInitialMs = int("EXECUTION_RETRY_BACKOFF_MS", 1_000, 0, 3_600_000);
  return {
    port,
    host: read("HOST") ?? "0.0.0.0",
    databaseUrl,
    dataDir: path.resolve(read("DATA_DIR") ?? "data"),
    defaultTenant: read("DEFAULT_TENANT") ?? "default",
    auth: loadAuthConfig(read),
    mongoUrl,
    redisUrl,
    adapter: adapter as Config["adapter"],
    workers,
    executions: {
      maxAttempts: int("EXECUTION_MAX_ATTEMPTS", 3, 1, 100),
      deadlineMs: int("EXECUTION_DEADLINE_MS", 120_000, 100, 86_400_000),
      retryInitialMs,
      retryMaxMs: Math.max(retryInitialMs, 30_000),
      waitMaxMs: int("EXECUTION_WAIT_MAX_MS", 60_000, 1, 3_600_000),
      cancelPollMs: int("EXECUTION_CANCEL_POLL_MS", 2_000, 50, 3_600_000),
      reconcileMs: int("EXECUTION_RECONCILE_MS", 30_000, 100, 86_400_000),
      maxLmCalls: int("MAX_LM_CALLS_PER_EXECUTION", RUN_LIMITS.maxLmCalls, 1, 100_000),
    },
    evaluations: {
      concurrency: int("EVALUATION_CONCURRENCY", 1, 1, 256),
      deadlineMs: int("EVALUATION_DEADLINE_MS", 3_600_000, 1_000, 86_400_000),
    },
    optimizations: {
      concurrency: int("OPTIMIZATION_CONCURRENCY", 1, 1, 256),
      deadlineMs: int("OPTIMIZATION_DEADLINE_MS", 6 * 3_600_000, 1_000, 7 * 86_400_000),
      workers: int("OPTIMIZATION_WORKERS", 1, 0, 256),
      workerBind: read("OPTIMIZATION_WORKER_BIND"),
    },
    secrets: loadKeyring(read),
    secretEnv: SecretEnvPolicy.parse(read("LM_SECRET_ENV_ALLOW"), SERVER_ENV),
    egress: EgressPolicy.parse(read("LM_EGRESS_ALLOW")),
    limits: {
      maxQueryDepth: int("MAX_QUERY_DEPTH", 12, 1, 1_000),
      maxQueryComplexity: int("MAX_QUERY_COMPLEXITY", 1_000, 1, 100_000_000),
      maxRequestBytes: int("MAX_REQUEST_BYTES", 2 * 1024 * 1024, 1_024, 1024 * 1024 * 1024),
      introspection: introspectionMode(read("INTROSPECTION")),
      maxSubscriptionsPerConnection: int("MAX_SUBSCRIPTIONS_PER_CONNECTION", 100, 1, 100_000),
      subscriberBufferBytes: int("SUBSCRIBER_BUFFER_BYTES", 4 * 1024 * 1024, 1_024, 1024 * 1024 * 1024),
      executeRate: parseRateLimit(read("EXECUTE_RATE_LIMIT") ?? "60/minute", read("EXECUTE_RATE_BURST")),
    },
    tracing: { otlpEndpoint: otlpEndpoint(read("OTEL_EXPORTER_OTLP_ENDPOINT")) },
    logLevel: logLevel(read("LOG_LEVEL")),
    corsOrigins: corsOrigins(read("CORS_ORIGINS")),
    jobs: {
      pollMs: int("JOB_POLL_MS", 1_000, 10, 3_600_000),
      lockLifetimeMs: int("JOB_LOCK_LIFETIME_MS", 30_000, 300, 86_400_000),
      concurrency: int("JOB_CONCURRENCY", Math.max(1, workers.count * workers.concurrency), 1, 10_000),
      notifications: int("JOB_NOTIFICATIONS", 1, 0, 1) === 1,
      historyMs: int("JOB_HISTORY_MS", 0, 0, 30 * 86_400_000),
    },
  };
}
