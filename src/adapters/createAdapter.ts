import path from "node:path";
import type { Config } from "../config.js";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../workers/bridgePaths.js";
import { WorkerPool } from "../workers/WorkerPool.js";
import type { DspyAdapter } from "./DspyAdapter.js";
import { InProcessAdapter } from "./InProcessAdapter.js";
import { ZmqPythonAdapter } from "./ZmqPythonAdapter.js";
import { NativeAdapter } from "../native/NativeAdapter.js";
import type { LmRateLimiter } from "../limits/LmRateLimiter.js";

/**
 * The adapter the configuration asks for; for `python`, `native` and `auto`, a started worker pool behind
 * it (the native adapter leaves to it what it does not run in Node). Its local
 * workers keep DSPy's disk cache of LM answers in DATA_DIR/dspy-cache (unless DSPY_CACHEDIR says
 * otherwise), with the rest of this deployment's data rather than in the user's home directory.
 * `observePool` sees the pool before it starts (src/observability listens to its workers' births and deaths).
 */
export async function createAdapter(
  config: Pick<Config, "adapter" | "workers" | "dataDir"> & Partial<Pick<Config, "secrets" | "secretEnv" | "egress" | "tracing">>,
  observePool?: (pool: WorkerPool) => void,
  /** Per-LM requests and tokens per minute (one per server: shared by its adapters, and across instances with Redis). */
  limiter?: LmRateLimiter,
): Promise<DspyAdapter> {
  if (config.adapter === "in-process") return new InProcessAdapter();
  const pool = new WorkerPool({
    workers: config.workers.count,
    concurrency: config.workers.concurrency,
    python: BRIDGE_PYTHON,
    bridgeDir: BRIDGE_DIR,
    bind: config.workers.bind,
    env: {
      ...(process.env.DSPY_CACHEDIR ? {} : { DSPY_CACHEDIR: path.join(config.dataDir, "dspy-cache") }),
      // Local workers export their spans where the server does (only the endpoint: OTLP headers may hold credentials).
      ...(config.tracing?.otlpEndpoint ? { OTEL_EXPORTER_OTLP_ENDPOINT: config.tracing.otlpEndpoint } : {}),
    },
  });
  observePool?.(pool);
  await pool.start();
  const policies = config.secretEnv && config.egress ? { secretEnv: config.secretEnv, egress: config.egress } : undefined;
  const python = new ZmqPythonAdapter(pool, config.secrets, policies, limiter);
  return config.adapter === "python" ? python : new NativeAdapter(python, config.adapter, config.secrets, policies, limiter);
}
