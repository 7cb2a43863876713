import { normalizeDefinition } from "../src/programs/programOf.js";
import "reflect-metadata";
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { createInterface } from "node:readline";
import { Router } from "zeromq";
import { ZmqPythonAdapter } from "../src/adapters/ZmqPythonAdapter.js";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../src/workers/bridgePaths.js";
import { WorkerPool } from "../src/workers/WorkerPool.js";
import { interleaved, latencyOf, perSecond, round, sequentialSamples, table, throughput, throughputCount } from "./stats.js";

/**
 * bench:pool — the worker pool against baselines measured in the same run:
 * 1. ping through the pool vs a raw zeromq round trip (Node ROUTER ↔ a bare Python DEALER echo, over
 *    ipc like the pool's local workers), sequential p50/p99 and throughput at 64 in flight (target
 *    ≥ 0.8x raw throughput, p50 within +50 µs);
 * 2. Predict with DummyLM through the pool vs the same call made directly inside Python (target p50
 *    ≤ 1.2x), and the floor no pool can beat: the direct call plus one raw round trip;
 * 3. Predict throughput with 1 and 2 workers.
 * Baseline and pool are measured in BENCH_ROUNDS alternating rounds (same total samples and seconds
 * per side), so load that drifts during the run (a 2-core machine shared with compilers) hits both.
 * BENCH_ONLY=ping|predict|scaling runs one section.
 */
const SEQUENTIAL = Number(process.env.BENCH_N ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 6));
const ONLY = process.env.BENCH_ONLY;
const PAYLOAD = "x".repeat(220); // ~300-byte JSON messages each way, as in STACK.md's floor

/** The raw baseline: a Node ROUTER and a bare Python DEALER that echoes every frame, no protocol work. */
async function rawEcho(): Promise<{ roundTrip: () => Promise<void>; close: () => Promise<void> }> {
  const router = new Router({ linger: 0 });
  await router.bind(`ipc://@bench-raw-${process.pid}`); // the transport the pool gives its local workers
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
  const close = async () => {
    await router.send([identity, Buffer.from("stop")]);
    await once(echo, "exit");
    router.close();
  };
  return { roundTrip, close };
}

/** The direct baseline: bridge-py/bench/direct_predict.py --serve, timing batches of back-to-back runs. */
async function directPython(): Promise<{ batch: (n: number, warmup: number) => Promise<number[]>; close: () => Promise<void> }> {
  const child = spawn(BRIDGE_PYTHON, [path.join(BRIDGE_DIR, "bench", "direct_predict.py"), "--serve"], { cwd: BRIDGE_DIR, stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const readLine = async () => {
    const line = await lines.next();
    if (line.done) throw new Error("direct_predict.py exited");
    return JSON.parse(line.value);
  };
  await readLine(); // {"ready": true}, once warmed up
  return {
    batch: async (n, warmup) => {
      child.stdin.write(`${n} ${warmup}\n`);
      return (await readLine()).samples_ms as number[];
    },
    close: async () => {
      child.stdin.end();
      await once(child, "exit");
    },
  };
}

const predictProgram = {
  versionId: "00000000-0000-7000-8000-0000000be0c1",
  program: normalizeDefinition({
    inputs: { question: { type: "str" } },
    modules: { answer: { type: "Predict", signature: "question -> answer" } },
    forward: [{ call: "answer", with: { question: "$input.question" }, as: "a" }, { return: { answer: "$a.answer" } }],
  }),
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

const selected = (section: string) => ONLY === undefined || ONLY === section;

async function main(): Promise<void> {
  const figures: Record<string, number> = {};

  if (selected("ping")) {
    const raw = await rawEcho();
    const pool = new WorkerPool({ workers: 1, concurrency: 4, python: BRIDGE_PYTHON, bridgeDir: BRIDGE_DIR });
    await pool.start();
    const ping = () => pool.request("ping", { echo: PAYLOAD });
    await sequentialSamples(0, 200, raw.roundTrip);
    await sequentialSamples(0, 200, ping);
    const perRound = Math.ceil(SEQUENTIAL / ROUNDS);
    const seq = await interleaved(ROUNDS, () => sequentialSamples(perRound, 20, raw.roundTrip), () => sequentialSamples(perRound, 20, ping));
    const busy = await interleaved(ROUNDS, () => throughputCount(64, (SECONDS * 1000) / ROUNDS, raw.roundTrip), () => throughputCount(64, (SECONDS * 1000) / ROUNDS, ping));
    await pool.close();
    await raw.close();
    const rawLatency = latencyOf(seq.baseline.flat());
    const poolLatency = latencyOf(seq.contender.flat());
    Object.assign(figures, {
      ping_raw_p50_ms: round(rawLatency.p50),
      ping_raw_p99_ms: round(rawLatency.p99),
      ping_pool_p50_ms: round(poolLatency.p50),
      ping_pool_p99_ms: round(poolLatency.p99),
      ping_p50_overhead_us: round((poolLatency.p50 - rawLatency.p50) * 1000, 1),
      ping_raw_rps_64: round(perSecond(busy.baseline), 0),
      ping_pool_rps_64: round(perSecond(busy.contender), 0),
      ping_throughput_ratio: round(perSecond(busy.contender) / perSecond(busy.baseline)),
    });
  }

  if (selected("predict")) {
    const predictN = Math.max(100, Math.round(SEQUENTIAL / 4));
    const perRound = Math.ceil(predictN / ROUNDS);
    const direct = await directPython();
    const raw = await rawEcho();
    const rawSamples: number[][] = [];
    const rounds = await withPool(1, async (pool) => {
      const adapter = new ZmqPythonAdapter(pool);
      const run = () => adapter.execute({ program: predictProgram, lm: dummy, inputs: { question: "Capital of France?" } });
      await sequentialSamples(0, 50, run);
      await sequentialSamples(0, 200, raw.roundTrip);
      const directThenRaw = async () => {
        const samples = await direct.batch(perRound, 10);
        rawSamples.push(await sequentialSamples(perRound, 20, raw.roundTrip));
        return samples;
      };
      return interleaved(ROUNDS, directThenRaw, () => sequentialSamples(perRound, 10, run));
    });
    await raw.close();
    await direct.close();
    const directLatency = latencyOf(rounds.baseline.flat());
    const poolLatency = latencyOf(rounds.contender.flat());
    // What a pool that cost nothing would give: the direct call plus one raw round trip.
    const floor = directLatency.p50 + latencyOf(rawSamples.flat()).p50;
    Object.assign(figures, {
      predict_direct_p50_ms: round(directLatency.p50),
      predict_pool_p50_ms: round(poolLatency.p50),
      predict_pool_p99_ms: round(poolLatency.p99),
      predict_p50_ratio: round(poolLatency.p50 / directLatency.p50),
      predict_floor_p50_ms: round(floor),
      predict_floor_ratio: round(floor / directLatency.p50),
      predict_pool_over_floor_ms: round(poolLatency.p50 - floor),
    });
  }

  if (selected("scaling")) {
    const predictRps: Record<number, number> = {};
    for (const workers of [1, 2]) {
      predictRps[workers] = await withPool(workers, async (pool) => {
        const adapter = new ZmqPythonAdapter(pool);
        await adapter.execute({ program: predictProgram, lm: dummy, inputs: { question: "warm" } });
        return throughput(64, SECONDS * 1000, () => adapter.execute({ program: predictProgram, lm: dummy, inputs: { question: "Capital of France?" } }));
      });
    }
    Object.assign(figures, {
      predict_rps_1_worker: round(predictRps[1], 0),
      predict_rps_2_workers: round(predictRps[2], 0),
      predict_scaling_2_vs_1: round(predictRps[2] / predictRps[1]),
    });
  }

  const f = figures;
  const signed = (n: number) => (n >= 0 ? `+${n}` : `${n}`);
  const rows: (string | number)[][] = [["measure", "baseline", "pool", "ratio / delta", "target"]];
  if (selected("ping")) {
    rows.push(
      ["ping p50 ms (sequential)", f.ping_raw_p50_ms, f.ping_pool_p50_ms, `${signed(f.ping_p50_overhead_us)} µs`, "≤ +50 µs"],
      ["ping p99 ms (sequential)", f.ping_raw_p99_ms, f.ping_pool_p99_ms, "", ""],
      ["ping msgs/s, 64 in flight", f.ping_raw_rps_64, f.ping_pool_rps_64, `${f.ping_throughput_ratio}x`, "≥ 0.8x"],
    );
  }
  if (selected("predict")) {
    rows.push(
      ["Predict+DummyLM p50 ms", f.predict_direct_p50_ms, f.predict_pool_p50_ms, `${f.predict_p50_ratio}x`, "≤ 1.2x"],
      ["  floor: direct + raw round trip", f.predict_direct_p50_ms, f.predict_floor_p50_ms, `${f.predict_floor_ratio}x`, ""],
    );
  }
  if (selected("scaling")) {
    rows.push(["Predict+DummyLM runs/s, 64 in flight", `1 worker: ${f.predict_rps_1_worker}`, `2 workers: ${f.predict_rps_2_workers}`, `${f.predict_scaling_2_vs_1}x`, ""]);
  }
  console.log(table(rows));
  console.log(JSON.stringify(figures));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
