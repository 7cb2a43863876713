import type { Config } from "../config.js";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../workers/bridgePaths.js";
import { WorkerPool } from "../workers/WorkerPool.js";
import type { DspyAdapter } from "./DspyAdapter.js";
import { InProcessAdapter } from "./InProcessAdapter.js";
import { ZmqPythonAdapter } from "./ZmqPythonAdapter.js";

/** The adapter the configuration asks for; for `python`, a started worker pool behind it. */
export async function createAdapter(config: Pick<Config, "adapter" | "workers"> & { secrets?: Config["secrets"] }): Promise<DspyAdapter> {
  if (config.adapter === "in-process") return new InProcessAdapter();
  const pool = new WorkerPool({
    workers: config.workers.count,
    concurrency: config.workers.concurrency,
    python: BRIDGE_PYTHON,
    bridgeDir: BRIDGE_DIR,
    bind: config.workers.bind,
  });
  await pool.start();
  return new ZmqPythonAdapter(pool, config.secrets);
}
