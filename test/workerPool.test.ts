import { normalizeDefinition } from "../src/programs/programOf.js";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import type { LanguageModelSpec } from "../src/adapters/DspyAdapter.js";
import { ZmqPythonAdapter } from "../src/adapters/ZmqPythonAdapter.js";
import { AppError } from "../src/errors.js";
import { createLogger } from "../src/observability/logger.js";
import { logWorkerPool } from "../src/observability/workerPoolLog.js";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../src/workers/bridgePaths.js";
import { DEFAULT_RESTART_POLICY, nextRestart } from "../src/workers/restartPolicy.js";
import { SocketWriter } from "../src/workers/SocketWriter.js";
import { WorkerPool, type WorkerPoolOptions } from "../src/workers/WorkerPool.js";
import { dummyLm } from "./adapters/conformance.js";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { compactDefinition } from "./support/fixtures.js";
import { TEST_POLICIES } from "./support/harness.js";

const program = { versionId: "00000000-0000-7000-8000-00000000a001", program: normalizeDefinition(compactDefinition()), compiledState: null };
const openAiLm = (id: string, url: string, model = "scripted"): LanguageModelSpec => ({
  id,
  model: `openai/${model}`,
  apiBase: url,
  temperature: 0,
  maxTokens: 64,
  cache: false,
  secretEnv: null,
  config: { num_retries: 0 },
});

async function withPool(options: Partial<WorkerPoolOptions>, body: (pool: WorkerPool, adapter: ZmqPythonAdapter) => Promise<void>): Promise<void> {
  const pool = new WorkerPool({ workers: 2, concurrency: 4, python: BRIDGE_PYTHON, bridgeDir: BRIDGE_DIR, ...options });
  await pool.start();
  try {
    await body(pool, new ZmqPythonAdapter(pool, undefined, TEST_POLICIES));
  } finally {
    await pool.close(2_000);
  }
}

async function rejectsWith(promise: Promise<unknown>, code: string, retriable: boolean): Promise<AppError> {
  const error = await promise.then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof AppError, String(error));
  assert.equal(error.code, code, error.message);
  assert.equal(error.retriable, retriable);
  return error;
}

const waitFor = async (check: () => boolean, timeoutMs = 15_000) => {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("WorkerPool with real Python workers", function () {
  this.timeout(120_000);
  let lm: Awaited<ReturnType<typeof startFakeOpenAI>>;
  before(async () => {
    lm = await startFakeOpenAI(({ model, prompt }) => {
      // The last match: DSPy's prompt first shows the format template, then the actual input.
      const question = [...prompt.matchAll(/question ## \]\]\n(.*)/g)].pop()?.[1] ?? "";
      if (model === "slow") return { fields: { answer: `slow: ${question}` }, delayMs: 3_000 };
      if (model === "rate-limited") return { status: 429 };
      if (model === "broken") return { status: 400 };
      return { fields: { answer: `${model} says ${question}` } };
    });
  });
  after(async () => {
    await lm.close();
  });

  it("answers pings through the least busy worker, many in flight, each matched to its request", async () => {
    await withPool({}, async (pool) => {
      const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => pool.request<{ pong: boolean; echo: number }>("ping", { echo: i })));
      replies.forEach((reply, i) => assert.deepEqual([reply.pong, reply.echo], [true, i]));
      assert.equal(pool.info().length, 2);
    });
  });

  it("runs many executions concurrently across workers with results matched to requests", async () => {
    await withPool({}, async (_pool, adapter) => {
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => adapter.execute({ program, lm: openAiLm("lm-a", lm.url, `model-${i % 2}`), inputs: { question: `q${i}` } })),
      );
      results.forEach((result, i) => assert.equal(result.outputs.answer, `model-${i % 2} says q${i}`));
      assert.equal(results[0].usage.total_tokens, 15);
      assert.equal(results[0].trace[0].lm_calls[0].usage.total_tokens, 15);
    });
  });

  it("chooses the LM per request: two LMs on the same worker, concurrently", async () => {
    await withPool({ workers: 1 }, async (_pool, adapter) => {
      const [a, b] = await Promise.all([
        adapter.execute({ program, lm: openAiLm("lm-1", lm.url, "alpha"), inputs: { question: "x" } }),
        adapter.execute({ program, lm: openAiLm("lm-2", lm.url, "beta"), inputs: { question: "x" } }),
      ]);
      assert.equal(a.outputs.answer, "alpha says x");
      assert.equal(b.outputs.answer, "beta says x");
    });
  });

  it("fails a request whose worker is SIGKILLed as WORKER_DIED (retriable), replaces the worker and rehydrates programs", async () => {
    await withPool({ workers: 1 }, async (pool, adapter) => {
      const dummy = dummyLm("lm-dummy", [{ answer: "before" }]);
      assert.equal((await adapter.execute({ program, lm: dummy, inputs: { question: "q" } })).outputs.answer, "before");
      const victim = pool.info()[0];
      const slow = adapter.execute({ program, lm: openAiLm("lm-slow", lm.url, "slow"), inputs: { question: "q" } });
      await waitFor(() => pool.info()[0]?.busy === 1);
      await new Promise((r) => setTimeout(r, 300));
      const replaced = once(pool, "worker-ready");
      process.kill(victim.pid!, "SIGKILL");
      await rejectsWith(slow, "WORKER_DIED", true);
      const [fresh] = await replaced;
      assert.notEqual(fresh.id, victim.id);
      const after = await adapter.execute({ program, lm: dummy, inputs: { question: "q" } });
      assert.equal(after.outputs.answer, "before", "the program defined before the crash runs again on the new worker");
    });
  });

  it("keeps a live worker while its only worker is SIGKILLed every 1.5 s: executions finish on retry, deaths and restarts are logged", async () => {
    await withPool({ workers: 1 }, async (pool, adapter) => {
      const lines: string[] = [];
      logWorkerPool(pool, createLogger({ destination: { write: (line: string) => void lines.push(line) } }));
      const started = Date.now();
      const runForMs = 9_000;

      // How long the pool had no ready worker, sampled every 10 ms.
      let noWorkerSince: number | undefined;
      let longestGapMs = 0;
      const sampler = setInterval(() => {
        const live = pool.info().some((w) => w.ready);
        if (!live) noWorkerSince ??= Date.now();
        else if (noWorkerSince !== undefined) {
          longestGapMs = Math.max(longestGapMs, Date.now() - noWorkerSince);
          noWorkerSince = undefined;
        }
      }, 10);
      // Each replacement's start-up, from its scheduled restart to its ready: what a gap may last.
      const startups: number[] = [];
      let restartedAt: number | undefined;
      pool.on("worker-restarting", () => (restartedAt = Date.now()));
      pool.on("worker-ready", () => {
        if (restartedAt !== undefined) startups.push(Date.now() - restartedAt);
        restartedAt = undefined;
      });
      // A crash that is not instantaneous: the worker is killed 1.5 s after the previous kill, once it is up.
      const killed: number[] = [];
      const killer = setInterval(() => {
        const victim = pool.info().find((w) => w.ready && w.pid);
        if (!victim?.pid) return;
        killed.push(victim.pid);
        process.kill(victim.pid, "SIGKILL");
      }, 1_500);

      // Three clients, each running executions one after another; a retriable failure is retried, as the job runner does.
      const attemptFailures: Record<string, number> = {};
      let executions = 0;
      const client = async (c: number) => {
        for (let i = 0; Date.now() - started < runForMs; i++) {
          const question = `c${c}-q${i}`;
          for (let attempt = 1; ; attempt++) {
            try {
              const result = await adapter.execute({ program, lm: openAiLm("lm-kill", lm.url, "steady"), inputs: { question }, deadlineMs: 10_000 });
              assert.equal(result.outputs.answer, `steady says ${question}`);
              executions += 1;
              break;
            } catch (error) {
              assert.ok(error instanceof AppError && error.retriable, `attempt ${attempt} of ${question} failed for good: ${String(error)}`);
              attemptFailures[error.code] = (attemptFailures[error.code] ?? 0) + 1;
              assert.ok(attempt < 5, `${question} still failing after ${attempt} attempts`);
            }
          }
        }
      };
      try {
        await Promise.all([0, 1, 2].map(client));
      } finally {
        clearInterval(killer);
        clearInterval(sampler);
      }
      if (noWorkerSince !== undefined) longestGapMs = Math.max(longestGapMs, Date.now() - noWorkerSince);
      const slowestStartupMs = Math.max(0, ...startups);
      console.log(`      ${killed.length} kills, ${executions} executions, attempt failures ${JSON.stringify(attemptFailures)}, longest time with no live worker ${longestGapMs} ms (slowest start-up ${slowestStartupMs} ms)`);

      assert.ok(killed.length >= 4, `only ${killed.length} kills`);
      assert.ok(executions > 50, `only ${executions} executions`);
      assert.deepEqual(Object.keys(attemptFailures).filter((code) => code !== "WORKER_DIED"), [], "no NO_WORKERS while a restart is pending");
      // A worker that lived 1.5 s is replaced at once: the gap is one Python start-up (about 0.4 s on a quiet
      // machine, 1.5 s on a loaded one), not a growing backoff (each restart's delay is checked below too).
      assert.ok(longestGapMs < slowestStartupMs + 500, `the pool had no live worker for ${longestGapMs} ms; the slowest start-up took ${slowestStartupMs} ms`);

      await waitFor(() => pool.info().some((w) => w.ready));
      const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      for (const pid of killed) {
        const death = logged.find((entry) => entry.msg === "worker died" && entry.pid === pid);
        assert.ok(death, `the death of ${pid} was logged: ${lines.join("\n")}`);
        assert.equal(death.signal, "SIGKILL");
        assert.equal(death.ready, true);
        assert.ok(typeof death.uptimeMs === "number" && death.uptimeMs > 0);
      }
      const restarts = logged.filter((entry) => entry.msg === "worker restart scheduled");
      assert.equal(restarts.length, killed.length);
      assert.ok(restarts.every((entry) => entry.slot === 0 && entry.delayMs === 0), JSON.stringify(restarts));
    });
  });

  it("detects a hung (stopped) worker by its missing heartbeats and replaces it", async () => {
    await withPool({ workers: 1, heartbeatMs: 200, liveness: 3 }, async (pool, adapter) => {
      const victim = pool.info()[0];
      const slow = adapter.execute({ program, lm: openAiLm("lm-slow", lm.url, "slow"), inputs: { question: "q" } });
      await waitFor(() => pool.info()[0]?.busy === 1);
      const silent = once(pool, "worker-silent");
      process.kill(victim.pid!, "SIGSTOP");
      await silent;
      await rejectsWith(slow, "WORKER_DIED", true);
      await waitFor(() => pool.info().some((w) => w.ready && w.id !== victim.id));
      const result = await adapter.execute({ program, lm: dummyLm("lm-d", [{ answer: "alive" }]), inputs: { question: "q" } });
      assert.equal(result.outputs.answer, "alive");
    });
  });

  it("fails a request past its deadline as DEADLINE_EXCEEDED and replaces a worker whose threads are all stuck", async () => {
    await withPool({ workers: 1, concurrency: 1 }, async (pool, adapter) => {
      const victim = pool.info()[0];
      const stuck = once(pool, "worker-stuck");
      await rejectsWith(adapter.execute({ program, lm: openAiLm("lm-slow", lm.url, "slow"), inputs: { question: "q" }, deadlineMs: 500 }), "DEADLINE_EXCEEDED", true);
      await stuck;
      await waitFor(() => pool.info().some((w) => w.ready && w.id !== victim.id));
      const result = await adapter.execute({ program, lm: openAiLm("lm-ok", lm.url, "fine"), inputs: { question: "q" } });
      assert.equal(result.outputs.answer, "fine says q");
    });
  });

  it("fails each request at its own deadline, a short one behind a long one included", async () => {
    await withPool({ workers: 1, concurrency: 4 }, async (_pool, adapter) => {
      const slow = (deadlineMs: number) => adapter.execute({ program, lm: openAiLm("lm-slow", lm.url, "slow"), inputs: { question: "q" }, deadlineMs });
      const started = performance.now();
      const long = slow(20_000).catch((e: unknown) => e);
      const short = rejectsWith(slow(400), "DEADLINE_EXCEEDED", true);
      await short;
      const took = performance.now() - started;
      assert.ok(took >= 390 && took < 2_000, `the 400 ms deadline fired after ${took.toFixed(0)} ms`);
      const shorter = performance.now();
      await rejectsWith(slow(150), "DEADLINE_EXCEEDED", true);
      assert.ok(performance.now() - shorter < 1_500, "a later, shorter deadline re-arms the timer");
      void long;
    });
  });

  it("maps LM failures: 429 → LM_RATE_LIMITED (retriable), 400 → LM_ERROR, closed port → LM_UNAVAILABLE", async () => {
    await withPool({ workers: 1 }, async (_pool, adapter) => {
      const run = (spec: LanguageModelSpec) => adapter.execute({ program, lm: spec, inputs: { question: "q" } });
      const limited = await rejectsWith(run(openAiLm("lm-429", lm.url, "rate-limited")), "LM_RATE_LIMITED", true);
      assert.equal(limited.layer, "lm");
      const broken = await rejectsWith(run(openAiLm("lm-400", lm.url, "broken")), "LM_ERROR", false);
      assert.equal(broken.layer, "lm");
      await rejectsWith(run(openAiLm("lm-closed", "http://127.0.0.1:9/v1")), "LM_UNAVAILABLE", true);
      assert.equal((await run(openAiLm("lm-fine", lm.url, "fine"))).outputs.answer, "fine says q", "the worker keeps serving");
    });
  });

  it("drains in-flight requests on close", async () => {
    const pool = new WorkerPool({ workers: 1, concurrency: 2, python: BRIDGE_PYTHON, bridgeDir: BRIDGE_DIR });
    await pool.start();
    const adapter = new ZmqPythonAdapter(pool, undefined, TEST_POLICIES);
    const slow = adapter.execute({ program, lm: openAiLm("lm-slow", lm.url, "slow"), inputs: { question: "drain" } });
    await waitFor(() => pool.info()[0]?.busy === 1);
    const [closed, result] = await Promise.all([pool.close(10_000), slow]);
    assert.equal(closed, undefined);
    assert.equal(result.outputs.answer, "slow: drain");
    await rejectsWith(adapter.execute({ program, lm: openAiLm("lm-x", lm.url), inputs: { question: "late" } }), "POOL_CLOSED", false);
  });

  it("accepts a worker that joins over tcp from elsewhere", async () => {
    const pool = new WorkerPool({ workers: 0, concurrency: 2, python: BRIDGE_PYTHON, bridgeDir: BRIDGE_DIR, bind: "tcp://127.0.0.1:*" });
    await pool.start();
    const remote = spawn(BRIDGE_PYTHON, ["-m", "dspy_bridge.worker", "--connect", pool.endpoint, "--id", "remote-1"], { cwd: BRIDGE_DIR, stdio: "ignore" });
    try {
      await once(pool, "worker-ready");
      assert.deepEqual(pool.info().map((w) => [w.id, w.local]), [["remote-1", false]]);
      const result = await new ZmqPythonAdapter(pool, undefined, TEST_POLICIES).execute({ program, lm: openAiLm("lm-r", lm.url, "remote"), inputs: { question: "hi" } });
      assert.equal(result.outputs.answer, "remote says hi");
    } finally {
      await pool.close(2_000);
      remote.kill("SIGKILL");
      await once(remote, "exit").catch(() => undefined);
    }
  });
});

describe("worker restart policy", () => {
  const policy = DEFAULT_RESTART_POLICY;
  const deaths = (backoffMs: number, uptimes: number[], wasReady = true) =>
    uptimes.map((uptimeMs) => {
      const next = nextRestart(policy, backoffMs, { uptimeMs, wasReady });
      backoffMs = next.backoffMs;
      return next.delayMs;
    });

  it("replaces a worker that came up and lived past the minimum uptime at once, however often it dies", () => {
    assert.deepEqual(deaths(policy.initialBackoffMs, Array(20).fill(2_000)), Array(20).fill(0));
  });

  it("waits after quick deaths, per death doubling from the initial backoff up to the cap", () => {
    assert.deepEqual(deaths(policy.initialBackoffMs, Array(9).fill(50)), [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000, 5_000]);
    assert.deepEqual(deaths(policy.initialBackoffMs, [5_000, 5_000], false), [100, 200], "a worker that never said ready waits, however long it took");
  });

  it("keeps a slot's backoff across a restart at once, and resets it after a stable run", () => {
    assert.deepEqual(deaths(1_600, [50, 2_000, 50]), [1_600, 0, 3_200]);
    assert.deepEqual(deaths(5_000, [policy.stableMs, 50]), [0, 100]);
  });
});

describe("SocketWriter", () => {
  /** A stand-in for a zeromq 6 socket: at most one send waits; another meanwhile throws EBUSY. */
  function fakeSocket(options: { deferEvery: number; failIds?: string[] }) {
    const sent: string[] = [];
    const messages: string[][] = []; // each send: the peer, then its frames
    let waiting: (() => void) | undefined;
    let calls = 0;
    const socket = {
      send(frames: Buffer[]): Promise<void> {
        if (waiting) throw Object.assign(new Error("Socket is busy writing"), { code: "EBUSY" });
        const [peer, ...ids] = frames.map((frame) => frame.toString());
        calls += 1;
        if (options.failIds && ids.some((id) => options.failIds!.includes(id))) return Promise.reject(Object.assign(new Error("Host unreachable"), { code: "EHOSTUNREACH" }));
        const deliver = () => {
          messages.push([peer, ...ids]);
          sent.push(...ids);
        };
        if (calls % options.deferEvery !== 0) {
          deliver();
          return Promise.resolve();
        }
        // zeromq took it but sends it later: the socket stays busy until this settles.
        return new Promise<void>((resolve) => {
          waiting = () => {
            waiting = undefined;
            deliver();
            resolve();
          };
          setTimeout(() => waiting?.(), 2);
        });
      },
    };
    return { socket, sent, messages };
  }

  it("hands messages over at once, queues behind a send that waits, and keeps their order", async () => {
    const { socket, sent } = fakeSocket({ deferEvery: 7 });
    const writer = new SocketWriter(socket as never);
    const to = Buffer.from("w");
    for (let turn = 0; turn < 40; turn++) {
      for (let i = 0; i < 5; i++) writer.send(to, Buffer.from(`m${turn * 5 + i}`), () => assert.fail(`m${turn * 5 + i} failed`));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await waitFor(() => writer.queued === 0 && sent.length === 200, 5_000);
    assert.deepEqual(sent, Array.from({ length: 200 }, (_, i) => `m${i}`));
  });

  it("sends a turn's first message alone and batches the rest per peer into one multipart message", async () => {
    const { socket, messages } = fakeSocket({ deferEvery: Number.POSITIVE_INFINITY });
    const writer = new SocketWriter(socket as never);
    const [a, b] = [Buffer.from("a"), Buffer.from("b")];
    for (const [to, id] of [[a, "a1"], [a, "a2"], [b, "b1"], [a, "a3"], [b, "b2"]] as const) writer.send(to, Buffer.from(id));
    assert.deepEqual(messages, [["a", "a1"]], "only the first went at once");
    assert.equal(writer.queued, 4);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(messages, [["a", "a1"], ["a", "a2", "a3"], ["b", "b1", "b2"]]);
    writer.send(a, Buffer.from("a4")); // a new turn: at once again
    assert.deepEqual(messages.at(-1), ["a", "a4"]);
  });

  it("reports a failed send to the callbacks of the messages it carried only", async () => {
    const { socket, sent } = fakeSocket({ deferEvery: 3, failIds: ["m4"] });
    const writer = new SocketWriter(socket as never);
    const failed: string[] = [];
    const onError = (peer: string) => (error: unknown) => failed.push(`${peer}:${(error as { code: string }).code}`);
    const callbacks = { x: onError("x"), y: onError("y") };
    for (let i = 0; i < 10; i++) {
      const peer = i === 4 ? "x" : "y";
      writer.send(Buffer.from(peer), Buffer.from(`m${i}`), callbacks[peer]);
      await new Promise((resolve) => setImmediate(resolve)); // one message per turn: each sent alone
    }
    await waitFor(() => writer.queued === 0 && sent.length === 9, 5_000);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(failed, ["x:EHOSTUNREACH"]);
  });
});
