import { InProcessAdapter } from "../src/adapters/InProcessAdapter.js";
import { ZmqPythonAdapter } from "../src/adapters/ZmqPythonAdapter.js";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../src/workers/bridgePaths.js";
import { WorkerPool } from "../src/workers/WorkerPool.js";
import { describeAdapterConformance } from "./adapters/conformance.js";
import { TEST_POLICIES } from "./support/harness.js";

describeAdapterConformance("in-process", () => new InProcessAdapter());

describe("ZeroMQ Python adapter", function () {
  this.timeout(120_000);
  let adapter: ZmqPythonAdapter | undefined;
  before(async () => {
    const pool = new WorkerPool({ workers: 2, concurrency: 4, python: BRIDGE_PYTHON, bridgeDir: BRIDGE_DIR });
    await pool.start();
    adapter = new ZmqPythonAdapter(pool, undefined, TEST_POLICIES);
  });
  after(async () => {
    await adapter?.close();
  });
  describeAdapterConformance("zmq-python (real DSPy workers)", () => adapter!);
});
