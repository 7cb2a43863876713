import "reflect-metadata";
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { Router } from "zeromq";
import { ZmqPythonAdapter } from "../src/adapters/ZmqPythonAdapter.js";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../src/workers/bridgePaths.js";
import { WorkerPool } from "../src/workers/WorkerPool.js";
import { type Latency, round, sequential, table, throughput } from "./stats.js";

/**
 * bench:pool — the worker pool against baselines measured in the same run:
 * 1. ping through the pool vs a raw zeromq round trip (Node ROUTER ↔ a bare Python DEALER echo),
 *    sequential p50/p99 and throughput at 64 in flight (target ≥ 0.8x raw throughput, p50 within +50 µs);
 * 2. Predict with DummyLM through the pool vs the same call made directly inside Python (target p50 ≤ 1.2x);
 * 3. Predict throughput with 1 and 2 workers.
 */
const SEQUENTIAL = Number(process.env.BENCH_N ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const PAYLOAD = "x".repeat(220); // ~300-byte JSON messages each way, as in STACK.md's floor

async function rawBaseline(): Promise<{ latency: Latency; rps: number }> {
  const router = new Router({ linger: 0 });
  await router.bind("tcp://127.0.0.1:*");
  const echo = spawn(BRIDGE_PYTHON, [path.join(BRIDGE_DIR, "bench", "raw_echo.py"), "--connect", router.lastEndpoint!], { stdio: "inherit" });
  const [identity] = await router.receive();
  const waiting = new Map<string, () => void>();
  let sendChain = Promise.resolve();
  void (async () => {
    for await (const [, frame] of router) {
      const id = JSON.parse(frame.toString()).id as string;
      waiting.get(id)?.();
      waiting.delete(id);
    }
  })().catch(() => undefined);
  let next = 0;
  const roundTrip = () =>
    new Promise<void>((resolve) => {
      const id = `r${++next}`;
      waiting.set(id, resolve);
      const frame = Buffer.from(JSON.stringify({ v: 1, type: "request", id, command: "ping", deadline_ms: 1000, payload: { echo: PAYLOAD } }));
      sendChain = sendChain.then(() => router.send([identity, frame]));
    });
  const latency = await sequential(SEQUENTIAL, 200, roundTrip);
  const rps = await throughput(64, SECONDS * 1000, roundTrip);
  await router.send([identity, Buffer.from("stop")]);
  await once(echo, "exit");
  router.close();
  return { latency, rps };
}

async function directPython(n: number): Promise<Latency> {
  const child = spawn(BRIDGE_PYTHON, [path.join(BRIDGE_DIR, "bench", "direct_predict.py"), "--n", String(n)], { cwd: BRIDGE_DIR, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  await once(child, "exit");
  const result = JSON.parse(out.trim().split("\n").pop()!);
  return { p50: result.p50_ms, p99: result.p99_ms, n };
}

const predictProgram = {
  versionId: "00000000-0000-7000-8000-0000000be0c1",
  definition: {
    inputs: { question: { type: "str" } },
    modules: { answer: { type: "Predict", signature: "question -> answer" } },
    forward: [{ call: "answer", with: { question: "$input.question" }, as: "a" }, { return: { answer: "$a.answer" } }],
  },
  compiledState: null,
};
const dummy = { id: "bench-dummy", model: "dummy", apiBase: null, temperature: null, maxTokens: null, cache: false, secretEnv: null, config: { answers: [{ answer: "Paris" }] } };

async function withPool<T>(workers: number, body: (pool: WorkerPool) => Promise<T>): Promise<T> {
  const pool = new WorkerPool({ workers, concurrency: 4, python: BRIDGE_PYTHON, bridgeDir: BRIDGE_DIR });
  await pool.start();
  try {
    return await body(pool);
  } finally {
    await pool.close();
  }
}

async function main(): Promise<void> {
  const raw = await rawBaseline();
  const pooled = await withPool(1, async (pool) => ({
    latency: await sequential(SEQUENTIAL, 200, () => pool.request("ping", { echo: PAYLOAD })),
    rps: await throughput(64, SECONDS * 1000, () => pool.request("ping", { echo: PAYLOAD })),
  }));
  const predictN = Math.max(100, Math.round(SEQUENTIAL / 4));
  const direct = await directPython(predictN);
  const viaPool = await withPool(1, async (pool) => {
    const adapter = new ZmqPythonAdapter(pool);
    return sequential(predictN, 50, () => adapter.execute({ program: predictProgram, lm: dummy, inputs: { question: "Capital of France?" } }));
  });
  const predictRps: Record<number, number> = {};
  for (const workers of [1, 2]) {
    predictRps[workers] = await withPool(workers, async (pool) => {
      const adapter = new ZmqPythonAdapter(pool);
      await adapter.execute({ program: predictProgram, lm: dummy, inputs: { question: "warm" } });
      return throughput(64, SECONDS * 1000, () => adapter.execute({ program: predictProgram, lm: dummy, inputs: { question: "Capital of France?" } }));
    });
  }

  const figures = {
    ping_raw_p50_ms: round(raw.latency.p50),
    ping_raw_p99_ms: round(raw.latency.p99),
    ping_pool_p50_ms: round(pooled.latency.p50),
    ping_pool_p99_ms: round(pooled.latency.p99),
    ping_p50_overhead_us: round((pooled.latency.p50 - raw.latency.p50) * 1000, 1),
    ping_raw_rps_64: round(raw.rps, 0),
    ping_pool_rps_64: round(pooled.rps, 0),
    ping_throughput_ratio: round(pooled.rps / raw.rps),
    predict_direct_p50_ms: round(direct.p50),
    predict_pool_p50_ms: round(viaPool.p50),
    predict_pool_p99_ms: round(viaPool.p99),
    predict_p50_ratio: round(viaPool.p50 / direct.p50),
    predict_rps_1_worker: round(predictRps[1], 0),
    predict_rps_2_workers: round(predictRps[2], 0),
    predict_scaling_2_vs_1: round(predictRps[2] / predictRps[1]),
  };
  console.log(
    table([
      ["measure", "baseline", "pool", "ratio / delta", "target"],
      ["ping p50 ms (sequential)", figures.ping_raw_p50_ms, figures.ping_pool_p50_ms, `+${figures.ping_p50_overhead_us} µs`, "≤ +50 µs"],
      ["ping p99 ms (sequential)", figures.ping_raw_p99_ms, figures.ping_pool_p99_ms, "", ""],
      ["ping msgs/s, 64 in flight", figures.ping_raw_rps_64, figures.ping_pool_rps_64, `${figures.ping_throughput_ratio}x`, "≥ 0.8x"],
      ["Predict+DummyLM p50 ms", figures.predict_direct_p50_ms, figures.predict_pool_p50_ms, `${figures.predict_p50_ratio}x`, "≤ 1.2x"],
      ["Predict+DummyLM runs/s, 64 in flight", `1 worker: ${figures.predict_rps_1_worker}`, `2 workers: ${figures.predict_rps_2_workers}`, `${figures.predict_scaling_2_vs_1}x`, ""],
    ]),
  );
  console.log(JSON.stringify(figures));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
