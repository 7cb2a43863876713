import "reflect-metadata";
import { listenToProgram } from "../src/executions/ExecutionEvents.js";
import type { RunningServer } from "../src/server.js";
import { table } from "./stats.js";
import { createPredictProgram, graphql, ms, nowMs, runBench, sleep, startBenchServer, summarize, type Summary } from "./support.js";

/**
 * bench:enqueue — Enqueue → RUNNING latency on both job stores (issue "Executions": target p50 ≤ 20 ms),
 * each in two configurations measured in the same run:
 *  - product:  the in-process notification channel on, JOB_POLL_MS at its default (1,000 ms);
 *  - baseline: Agenda's defaults, i.e. polling alone every 5,000 ms (processEvery 5 s, JOB_NOTIFICATIONS=0).
 * Stores: the embedded SQL store (SQLite file) always; MongoDB when TEST_MONGO_URL is set
 * (`npm run bench:enqueue` starts a private FerretDB with scripts/with-ferretdb.sh when it can).
 *
 * The server runs in this process (startServer) with DSPY_ADAPTER=in-process, so an execution costs
 * no worker time and only the queue is measured. Per sample, `executeProgram` is sent (without `wait`,
 * which would start it where it was accepted, without the queue) and, once it has ended, two latencies
 * are taken:
 *  - "PENDING→RUNNING": the stored transition times (events { to at }, ms precision): from the
 *    execution's creation (persisted, then enqueued) to the job handler's RUNNING transition;
 *  - "sent→RUNNING": from just before the HTTP request is sent to the moment the RUNNING transition is
 *    published on the server's event bus (sub-ms clock; same process).
 * Product samples run one after another; baseline samples (which take up to 5 s each) start at random
 * times spread over BENCH_BASELINE_SECONDS, concurrently, so the run stays short.
 */
const PRODUCT_N = Number(process.env.BENCH_N ?? 200);
const WARMUP = 20;
const BASELINE_N = Number(process.env.BENCH_BASELINE_N ?? 30);
const BASELINE_SECONDS = Number(process.env.BENCH_BASELINE_SECONDS ?? 25);
const TARGET_P50_MS = 20;

// EXECUTE_RATE_LIMIT off: the benchmark measures the queue, not the per-caller rate limit.
const PRODUCT_ENV = { DSPY_ADAPTER: "in-process", EXECUTE_RATE_LIMIT: "off" };
const BASELINE_ENV = { DSPY_ADAPTER: "in-process", EXECUTE_RATE_LIMIT: "off", JOB_POLL_MS: "5000", JOB_NOTIFICATIONS: "0" };

// Without `wait`: a waited-for execution is started where it was accepted, without the queue (README
// "Executions"); the queue is what this bench measures. Each sample then waits for its execution's end.
const EXECUTE = `mutation($p: ID!, $q: String!) {
  executeProgram(input: { programId: $p, inputs: { question: $q } }) { id }
}`;
const EXECUTION = `query($id: ID!) { execution(id: $id) { id status events { to at } } }`;
const TERMINAL = ["COMPLETED", "FAILED", "CANCELLED"];

interface Execution {
  id: string;
  status: string;
  events: { to: string; at: string }[];
}

interface Sample {
  stored: number;
  sent: number;
}

interface Result {
  stored: Summary;
  sent: Summary;
  failed: number;
}

async function measure(server: RunningServer, name: string, n: number, spreadMs: number | null): Promise<Result> {
  const programId = await createPredictProgram(server.url, name);
  // When each execution's RUNNING transition was published, by execution id.
  const runningSeen = new Map<string, number>();
  // And when it ended, so a sample knows when to read its events.
  const ended = new Map<string, () => void>();
  const endedIds = new Set<string>();
  const updates = listenToProgram(server.services.events, programId);
  void (async () => {
    for await (const update of updates) {
      const id = update.execution.id;
      if (update.event.to === "RUNNING" && !runningSeen.has(id)) runningSeen.set(id, nowMs());
      if (TERMINAL.includes(update.event.to)) {
        endedIds.add(id);
        ended.get(id)?.();
      }
    }
  })();
  let failed = 0;
  const one = async (i: number): Promise<Sample | null> => {
    const sentAt = nowMs();
    const { executeProgram: queued } = await graphql<{ executeProgram: { id: string } }>(server.url, EXECUTE, { p: programId, q: `Capital of France? (${name} ${i})` });
    if (!endedIds.has(queued.id)) await new Promise<void>((resolve) => ended.set(queued.id, resolve));
    ended.delete(queued.id);
    const { execution } = await graphql<{ execution: Execution }>(server.url, EXECUTION, { id: queued.id });
    const at = (to: string) => Date.parse(execution.events.find((event) => event.to === to)?.at ?? "");
    const published = runningSeen.get(execution.id);
    if (execution.status !== "COMPLETED" || published === undefined) {
      failed += 1;
      return null;
    }
    return { stored: at("RUNNING") - at("PENDING"), sent: published - sentAt };
  };
  let samples: (Sample | null)[];
  try {
    if (spreadMs === null) {
      for (let i = 0; i < WARMUP; i++) await one(-i - 1);
      failed = 0;
      samples = [];
      for (let i = 0; i < n; i++) samples.push(await one(i));
    } else {
      // Start times drawn uniformly over the window, so they fall at every phase of the poll.
      samples = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          await sleep(Math.random() * spreadMs);
          return one(i);
        }),
      );
    }
  } finally {
    await updates.return?.();
  }
  const ok = samples.filter((sample): sample is Sample => sample !== null);
  return { stored: summarize(ok.map((s) => s.stored)), sent: summarize(ok.map((s) => s.sent)), failed };
}

async function onServer(env: Record<string, string>, mongoUrl: string | undefined, body: (server: RunningServer) => Promise<Result>): Promise<Result> {
  const server = await startBenchServer(env, mongoUrl);
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const mongoUrl = process.env.TEST_MONGO_URL || undefined;
  const stores: { name: "sqlite" | "mongo"; url?: string }[] = [{ name: "sqlite" }];
  if (mongoUrl) stores.push({ name: "mongo", url: mongoUrl });
  else console.error("NOTE: TEST_MONGO_URL is not set: the MongoDB job store is not measured (npm run bench:enqueue starts FerretDB when it can).");

  const results: Record<string, { product: Result; baseline: Result }> = {};
  for (const store of stores) {
    const product = await onServer(PRODUCT_ENV, store.url, (server) => measure(server, `${store.name}-product`, PRODUCT_N, null));
    const baseline = await onServer(BASELINE_ENV, store.url, (server) => measure(server, `${store.name}-baseline`, BASELINE_N, BASELINE_SECONDS * 1000));
    results[store.name] = { product, baseline };
  }

  const rows: (string | number)[][] = [["job store", "configuration", "n", "PENDING→RUNNING p50 ms", "p99 ms", "max ms", "sent→RUNNING p50 ms", "p99 ms", "failed"]];
  const figures: Record<string, number | boolean | string> = {};
  const storeLabel = { sqlite: "SQL (SQLite file)", mongo: "MongoDB (FerretDB 1.24, SQLite handler)" };
  for (const [store, { product, baseline }] of Object.entries(results)) {
    for (const [config, label, result] of [
      ["product", "product: notifications on, JOB_POLL_MS=1000", product],
      ["baseline", "Agenda defaults: poll 5000 ms, no notifications", baseline],
    ] as const) {
      rows.push([storeLabel[store as "sqlite" | "mongo"], label, result.stored.n, ms(result.stored.p50), ms(result.stored.p99), ms(result.stored.max), ms(result.sent.p50), ms(result.sent.p99), result.failed].map(String));
      figures[`${store}_${config}_n`] = result.stored.n;
      figures[`${store}_${config}_p50_ms`] = ms(result.stored.p50);
      figures[`${store}_${config}_p99_ms`] = ms(result.stored.p99);
      figures[`${store}_${config}_max_ms`] = ms(result.stored.max);
      figures[`${store}_${config}_sent_to_running_p50_ms`] = ms(result.sent.p50);
      figures[`${store}_${config}_sent_to_running_p99_ms`] = ms(result.sent.p99);
      figures[`${store}_${config}_failed`] = result.failed;
    }
    figures[`${store}_product_meets_p50_target`] = product.stored.p50 <= TARGET_P50_MS;
    figures[`${store}_baseline_over_product_p50`] = ms(baseline.stored.p50 / Math.max(product.stored.p50, 1), 0);
  }
  figures.target_p50_ms = TARGET_P50_MS;
  figures.mongo_measured = Boolean(results.mongo);
  figures.adapter = "in-process";
  figures.seconds = ms((Date.now() - started) / 1000, 0);
  console.log(table(rows));
  console.log(`target: p50 ≤ ${TARGET_P50_MS} ms (PENDING→RUNNING, product configuration)`);
  console.log(JSON.stringify(figures));
}

runBench(main);
