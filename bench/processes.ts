import "reflect-metadata";
import { createScratchDatabase } from "../test/support/harness.js";
import { startRedis } from "../test/support/redis.js";
import { type ServerProcess, startServerProcess } from "../test/support/serverProcess.js";
import { closedLoop, executeTarget, type Level, type Target } from "./closedLoop.js";
import { table } from "./stats.js";
import { cpuSecondsOf, createPredictProgram, ms, runBench, tempDir } from "./support.js";

/**
 * bench:processes — does a second server process on the same machine add throughput? The scale-out
 * configuration (MariaDB for the data and the job store, Redis for the event bus), DSPY_ADAPTER=in-process
 * so that only the product's own path is measured. `executeProgram(wait: true)` at 8 and 32 closed-loop
 * clients (BENCH_CLIENTS) against: one process without Redis, one process with Redis, and two processes
 * with Redis, the clients taking turns between them as a load balancer would. Per system and level a
 * warm-up (BENCH_WARMUP_SECONDS, 2) then BENCH_SECONDS (8) measured; req/s, latency, and the server
 * processes' CPU (user + system, from /proc) per execution. Needs TEST_MYSQL_URL (the npm script starts a
 * private MariaDB) and redis-server.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const LEVELS = (process.env.BENCH_CLIENTS ?? "8,32").split(",").map(Number);

interface System {
  name: string;
  servers: ServerProcess[];
  target: Target;
}

/** Client i of a level sends to server i mod n: each server gets an equal share of the clients. */
function spread(name: string, targets: Target[]): Target {
  let next = 0;
  return { name, call: (question) => targets[next++ % targets.length].call(question) };
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const mysqlUrl = process.env.TEST_MYSQL_URL;
  if (!mysqlUrl) throw new Error("bench:processes needs TEST_MYSQL_URL (npm run bench:processes starts a private MariaDB)");
  const redis = await startRedis();
  const scratch = await createScratchDatabase({ name: "mariadb", mysqlUrl });
  const data = tempDir("dspy-subgraph-bench-processes-");
  const common = { DSPY_ADAPTER: "in-process", EXECUTE_RATE_LIMIT: "off", DATABASE_URL: scratch.databaseUrl ?? "" };
  const results = new Map<string, Map<number, Level & { cpuMs: number }>>();
  const systems: System[] = [];
  try {
    const start = (dir: string, env: Record<string, string>) => startServerProcess({ ...common, DATA_DIR: `${data.dir}/${dir}`, ...env });
    const alone = await start("alone", {});
    const programId = await createPredictProgram(alone.url, "bench-processes");
    systems.push({ name: "1 process", servers: [alone], target: executeTarget("one", alone.url, programId) });
    const withRedis = await start("redis", { REDIS_URL: redis.url });
    systems.push({ name: "1 process + Redis", servers: [withRedis], target: executeTarget("one_redis", withRedis.url, programId) });
    const [a, b] = await Promise.all([start("a", { REDIS_URL: redis.url }), start("b", { REDIS_URL: redis.url })]);
    systems.push({ name: "2 processes + Redis", servers: [a, b], target: spread("two_redis", [executeTarget("a", a.url, programId), executeTarget("b", b.url, programId)]) });
    for (const clients of LEVELS) {
      for (const system of systems) {
        await closedLoop(system.target, clients, WARMUP_SECONDS, false);
        const cpuBefore = system.servers.map((s) => cpuSecondsOf(s.child.pid!).total);
        const level = await closedLoop(system.target, clients, SECONDS, true);
        const cpu = system.servers.reduce((sum, s, i) => sum + cpuSecondsOf(s.child.pid!).total - cpuBefore[i], 0);
        const row = { ...level, cpuMs: (cpu * 1000) / Math.max(1, level.latency.n) };
        if (!results.has(system.name)) results.set(system.name, new Map());
        results.get(system.name)?.set(clients, row);
        console.error(`${system.name} @${clients}: ${row.rps.toFixed(1)} req/s, p50 ${row.latency.p50.toFixed(2)} ms, p99 ${row.latency.p99.toFixed(2)} ms, CPU ${row.cpuMs.toFixed(2)} ms/execution, errors ${row.errors}`);
      }
    }
  } finally {
    for (const system of systems) for (const server of system.servers) await server.stop();
    await scratch.drop();
    await redis.stop();
    data.remove();
  }

  const rows: string[][] = [["clients", "system", "req/s", "p50 ms", "p99 ms", "errors", "server CPU ms / execution", "req/s vs 1 process"]];
  const figures: Record<string, number> = {};
  for (const clients of LEVELS) {
    const base = results.get("1 process")?.get(clients)?.rps ?? Number.NaN;
    for (const [name, byLevel] of results) {
      const r = byLevel.get(clients);
      if (!r) continue;
      const key = name.replace(/\W+/g, "_").replace(/_$/, "");
      rows.push([String(clients), name, String(ms(r.rps)), String(ms(r.latency.p50, 2)), String(ms(r.latency.p99, 2)), String(r.errors), String(ms(r.cpuMs, 2)), `${(r.rps / base).toFixed(2)}x`]);
      figures[`${key}_c${clients}_rps`] = ms(r.rps);
      figures[`${key}_c${clients}_cpu_ms`] = ms(r.cpuMs, 2);
      figures[`${key}_c${clients}_errors`] = r.errors;
    }
  }
  figures.seconds = ms((Date.now() - startedAt) / 1000, 0);
  console.log(table(rows));
  console.log(JSON.stringify(figures));
}

runBench(main);
