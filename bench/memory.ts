import "reflect-metadata";
import fs from "node:fs";
import type { Client } from "graphql-ws";
import { startServerProcess } from "../test/support/serverProcess.js";
import { table } from "./stats.js";
import { createPredictProgram, graphql, ms, runBench, sleep, tempDir } from "./support.js";
import { allReceived, connect, Subscriber } from "./wsSubscribers.js";

/**
 * bench:memory — the server's resident memory (VmRSS, from /proc) with 10,000 finished executions and
 * 1,000 open graphql-ws subscriptions, then over a soak.
 *
 * The server is its own process (`node dist/src/main.js`, SQLite file, DSPY_ADAPTER=in-process). 1,000
 * subscribers (graphql-ws clients in this process) follow `executionEvents` of one program ("watched");
 * 8 closed-loop clients run executions of another ("load") until 10,000 have finished: RSS then. The soak
 * (BENCH_SOAK_SECONDS, default 600) keeps the load on and, every BENCH_SAMPLE_SECONDS (30), runs one
 * watched execution (which every subscriber must receive whole) and samples RSS. Growth is the last
 * sample against the first one after warm-up (BENCH_WARMUP_SECONDS, 60); the least-squares slope of the
 * samples after warm-up is printed in MB per 10 minutes. Next to each RSS figure, V8's heap in use (from the
 * server's /metrics): RSS swings by a hundred MB with V8's collections under load, the heap in use says
 * whether what is live grows.
 */
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const FINISHED = Number(process.env.BENCH_EXECUTIONS ?? 10_000);
const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 600);
const SAMPLE_SECONDS = Number(process.env.BENCH_SAMPLE_SECONDS ?? 30);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 60);
const LOAD_CLIENTS = 8;
const CONNECT_BATCH = 100;

const EXECUTE = `mutation($p: ID!, $q: String!) { executeProgram(input: { programId: $p, inputs: { question: $q }, wait: true }) { id status } }`;

function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN);
  return kb / 1024;
}

/**
 * V8's heap in use and its size (MB), from the server's /metrics (prom-client's default series): the part
 * of RSS that is JavaScript objects, live or not yet collected, against what V8 holds for them.
 */
async function heapMb(graphqlUrl: string): Promise<{ used: number; total: number }> {
  const text = await (await fetch(new URL("/metrics", graphqlUrl))).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN) / 1024 / 1024;
  return { used: read("nodejs_heap_size_used_bytes"), total: read("nodejs_heap_size_total_bytes") };
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return num / den;
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const data = tempDir("dspy-subgraph-bench-memory-");
  const server = await startServerProcess({ DATA_DIR: data.dir, DSPY_ADAPTER: "in-process", EXECUTE_RATE_LIMIT: "off" });
  const pid = server.child.pid!;
  // Its log (a line per transition) is read and dropped from here on: kept, it would grow this process by ~1 MB/s.
  for (const stream of [server.child.stdout, server.child.stderr]) {
    stream?.removeAllListeners("data");
    stream?.resume();
  }
  const clients: Client[] = [];
  const subscribers = Array.from({ length: SUBSCRIBERS }, () => new Subscriber());
  let finished = 0;
  let failed = 0;
  let loading = true;
  const samples: { second: number; rssMb: number; heapUsedMb: number; finished: number; delivered: boolean }[] = [];
  let rssAt10k = Number.NaN;
  let heapAt10k = { used: Number.NaN, total: Number.NaN };
  let rssIdle = Number.NaN;
  try {
    const load = await createPredictProgram(server.url, "bench-memory-load");
    const watched = await createPredictProgram(server.url, "bench-memory-watched");
    rssIdle = rssMb(pid);
    const wsUrl = server.url.replace(/^http/, "ws");
    for (let i = 0; i < SUBSCRIBERS; i += CONNECT_BATCH) {
      clients.push(...(await Promise.all(subscribers.slice(i, i + CONNECT_BATCH).map((s) => connect(wsUrl, watched, s)))));
    }
    const watch = async (label: string): Promise<boolean> => {
      const { executeProgram } = await graphql<{ executeProgram: { id: string } }>(server.url, EXECUTE, { p: watched, q: `France? ${label}` });
      return allReceived(subscribers, [executeProgram.id], 10_000);
    };
    if (!(await watch("warm-up"))) throw new Error("not every subscriber received the warm-up execution");

    const loadDone = Promise.all(
      Array.from({ length: LOAD_CLIENTS }, async () => {
        while (loading) {
          const { executeProgram } = await graphql<{ executeProgram: { status: string } }>(server.url, EXECUTE, { p: load, q: `France? ${finished}` });
          if (executeProgram.status === "COMPLETED") finished += 1;
          else failed += 1;
        }
      }),
    );
    while (finished < FINISHED) await sleep(100);
    rssAt10k = rssMb(pid);
    heapAt10k = await heapMb(server.url);
    console.error(`${finished} finished executions, ${SUBSCRIBERS} open subscriptions: RSS ${rssAt10k.toFixed(1)} MB (V8 heap ${heapAt10k.used.toFixed(1)} MB used of ${heapAt10k.total.toFixed(1)} MB)`);

    const soakStart = Date.now();
    while (Date.now() - soakStart < SOAK_SECONDS * 1000) {
      await sleep(SAMPLE_SECONDS * 1000);
      const delivered = await watch(`soak ${samples.length}`);
      const sample = { second: Math.round((Date.now() - soakStart) / 1000), rssMb: rssMb(pid), heapUsedMb: (await heapMb(server.url)).used, finished, delivered };
      samples.push(sample);
      console.error(`soak ${sample.second} s: RSS ${sample.rssMb.toFixed(1)} MB (V8 heap used ${sample.heapUsedMb.toFixed(1)} MB), ${finished} finished, watched execution delivered to all: ${delivered}`);
    }
    loading = false;
    await loadDone;
  } finally {
    loading = false;
    await Promise.all(clients.map((client) => client.dispose()));
    await server.stop();
    data.remove();
  }

  const after = samples.filter((s) => s.second >= WARMUP_SECONDS);
  const first = after[0];
  const last = after[after.length - 1];
  const perTenMinutes = slope(after.map((s) => [s.second, s.rssMb])) * 600;
  const heapPerTenMinutes = slope(after.map((s) => [s.second, s.heapUsedMb])) * 600;
  const figures = {
    subscribers: SUBSCRIBERS,
    rss_idle_mb: ms(rssIdle),
    rss_at_10k_finished_mb: ms(rssAt10k),
    heap_used_at_10k_finished_mb: ms(heapAt10k.used),
    heap_total_at_10k_finished_mb: ms(heapAt10k.total),
    finished_executions: finished,
    failed_executions: failed,
    soak_seconds: SOAK_SECONDS,
    rss_after_warmup_first_mb: first ? ms(first.rssMb) : null,
    rss_last_mb: last ? ms(last.rssMb) : null,
    rss_growth_after_warmup_mb: first && last ? ms(last.rssMb - first.rssMb) : null,
    rss_slope_mb_per_10min: Number.isFinite(perTenMinutes) ? ms(perTenMinutes) : null,
    heap_used_range_after_warmup_mb: after.length > 0 ? [ms(Math.min(...after.map((s) => s.heapUsedMb))), ms(Math.max(...after.map((s) => s.heapUsedMb)))] : null,
    heap_used_slope_mb_per_10min: Number.isFinite(heapPerTenMinutes) ? ms(heapPerTenMinutes) : null,
    watched_deliveries_complete: samples.every((s) => s.delivered),
    seconds: ms((Date.now() - startedAt) / 1000, 0),
  };
  console.log(table([["second", "RSS MB", "V8 heap used MB", "finished executions", "watched delivered to all"], ...samples.map((s) => [String(s.second), s.rssMb.toFixed(1), s.heapUsedMb.toFixed(1), String(s.finished), String(s.delivered)])]));
  console.log(
    table([
      ["measure", "value"],
      ["RSS, idle (programs created)", `${figures.rss_idle_mb} MB`],
      [`RSS, ${FINISHED} finished executions and ${SUBSCRIBERS} open subscriptions`, `${figures.rss_at_10k_finished_mb} MB (V8 heap ${figures.heap_used_at_10k_finished_mb} MB used of ${figures.heap_total_at_10k_finished_mb} MB)`],
      [`RSS growth after ${WARMUP_SECONDS} s of soak, to its end`, `${figures.rss_growth_after_warmup_mb} MB (slope ${figures.rss_slope_mb_per_10min} MB / 10 min)`],
    ]),
  );
  console.log(JSON.stringify(figures));
  if (failed > 0 || !figures.watched_deliveries_complete) process.exitCode = 1;
}

runBench(main);
