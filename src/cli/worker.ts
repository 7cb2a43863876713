import { spawn } from "node:child_process";
import os from "node:os";
import { parseArgs } from "node:util";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../workers/bridgePaths.js";
import { workerEnv } from "../workers/workerEnv.js";

/**
 * `npm run worker -- --connect tcp://host:5555 [--id …] [--concurrency 4]`: one Python DSPy worker for
 * a server elsewhere (its WORKER_BIND; with WORKERS=0 it starts none of its own). The worker gets the
 * environment local workers get (no server secrets: LM keys come with each request); SIGTERM and
 * SIGINT drain it (running requests finish) before it exits.
 */
const { values } = parseArgs({
  options: {
    connect: { type: "string" },
    id: { type: "string", default: `remote-${os.hostname()}-${process.pid}` },
    concurrency: { type: "string", default: "4" },
  },
});
if (!values.connect || !/^tcp:\/\/.+:\d+$/.test(values.connect)) {
  console.error("usage: npm run worker -- --connect tcp://<server host>:<port of its WORKER_BIND> [--id name] [--concurrency n]");
  process.exit(2);
}
const child = spawn(BRIDGE_PYTHON, ["-m", "dspy_bridge.worker", "--connect", values.connect, "--id", values.id!, "--concurrency", values.concurrency!], {
  cwd: BRIDGE_DIR,
  stdio: ["ignore", "inherit", "inherit"],
  env: workerEnv(process.env),
});
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
