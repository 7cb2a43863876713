import "reflect-metadata";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import { once } from "node:events";
import path from "node:path";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../src/workers/bridgePaths.js";
import { createScratchDatabase } from "../test/support/harness.js";
import { startServerProcess } from "../test/support/serverProcess.js";
import { table } from "./stats.js";
import { createPredictProgram, freePort, ms, sleep, type Summary, summarize, tempDir } from "./support.js";

/**
 * bench:executions — `executeProgram(wait: true)` over HTTP, Predict with DummyLM, real Python workers
 * (DSPY_ADAPTER=python, WORKERS=2, the server as its own process: `node dist/src/main.js` on an embedded
 * SQLite file), against the peer users would otherwise pick, measured in the same run: the same program
 * behind a minimal FastAPI service (DSPy's deployment recipe, `dspy.asyncify`, one uvicorn process;
 * bridge-py/bench/fastapi_peer.py).
 *
 * One HTTP client for both (Node's fetch, keep-alive), closed loop at 1, 8 and 32 concurrent clients:
 * each client sends its next request when its previous answer arrives. Per level and system: a warm-up
 * (BENCH_WARMUP_SECONDS), then BENCH_SECONDS measured; the two systems alternate level by level.
 * Every answer is checked ("Paris"); a wrong or failed one counts as an error, not as a sample.
 * With TEST_MYSQL_URL (the npm script starts a private MariaDB when it is installed) the subgraph runs
 * on MariaDB too, a second server process; the systems alternate level by level.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const LEVELS = (process.env.BENCH_CLIENTS ?? "1,8,32").split(",").map(Number);
const WORKERS = process.env.WORKERS ?? "2";

const EXECUTE = `mutation($p: ID!, $q: String!) {
  executeProgram(input: { programId: $p, inputs: { question: $q }, wait: true }) { status outputs }
}`;

interface Target {
  name: string;
  /** One request; resolves true when the answer is right. */
  call(question: string): Promise<boolean>;
}

interface Level {
  rps: number;
  latency: Summary;
  errors: number;
}

async function closedLoop(target: Target, clients: number, seconds: number, record: boolean): Promise<Level> {
  const samples: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const question = `What is the capital of France? (request ${next++})`;
        const sent = performance.now();
        let ok = false;
        try {
          ok = await target.call(question);
        } catch {
          ok = false;
        }
        if (ok) samples.push(performance.now() - sent);
        else errors += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { rps: record ? samples.length / elapsed : 0, latency: summarize(samples), errors };
}

async function startPeer(): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(BRIDGE_PYTHON, ["-m", "uvicorn", "fastapi_peer:app", "--host", "127.0.0.1", "--port", String(port), "--no-access-log", "--log-level", "warning"], {
    cwd: path.join(BRIDGE_DIR, "bench"),
    stdio: ["ignore", "inherit", "inherit"],
  });
  const exited = once(child, "exit");
  const url = `http://127.0.0.1:${port}/predict`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the FastAPI peer exited with ${child.exitCode} (is fastapi installed? npm run bench:executions installs it)`);
    try {
      const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: "France?" }) });
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error("the FastAPI peer did not start in 60 s");
    }
    await sleep(200);
  }
  return {
    url,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** `executeProgram(wait: true)` of the bench's program on a server: right when it COMPLETED with "Paris". */
function executeTarget(name: string, url: string, programId: string): Target {
  return {
    name,
    async call(question) {
      const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: EXECUTE, variables: { p: programId, q: question } }) });
      const body = (await response.json()) as { data?: { executeProgram?: { status: string; outputs?: { answer?: string } } } };
      const execution = body.data?.executeProgram;
      return execution?.status === "COMPLETED" && execution.outputs?.answer === "Paris";
    },
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSecondsOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  // utime and stime: fields 14 and 15 of stat, 12 and 13 after "pid (comm) ".
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

/**
 * Node's CPU per execution: the server process alone (its own process, DSPY_ADAPTER=in-process, so no
 * worker shares the count), 8 closed-loop clients for BENCH_SECONDS after a warm-up; CPU time from /proc.
 */
async function serverCpuPerExecution(): Promise<{ cpuMsPerExecution: number; executions: number }> {
  const data = tempDir("dspy-subgraph-bench-cpu-");
  const server = await startServerProcess({ DATA_DIR: data.dir, DSPY_ADAPTER: "in-process", EXECUTE_RATE_LIMIT: "off" });
  try {
    const programId = await createPredictProgram(server.url, "bench-cpu");
    const target = executeTarget("in-process", server.url, programId);
    await closedLoop(target, 8, WARMUP_SECONDS, false);
    const pid = server.child.pid!;
    const before = cpuSecondsOf(pid);
    const level = await closedLoop(target, 8, SECONDS, true);
    const used = cpuSecondsOf(pid) - before;
    return { cpuMsPerExecution: (used * 1000) / level.latency.n, executions: level.latency.n };
  } finally {
    await server.stop();
    data.remove();
  }
}

interface Subgraph {
  target: Target;
  label: string;
  stop(): Promise<void>;
}

/** The subgraph as its own process on `database` (SQLite file, or a scratch database of the MariaDB server at `mysqlUrl`). */
async function startSubgraph(database: "sqlite" | "mariadb", mysqlUrl?: string): Promise<Subgraph> {
  const data = tempDir("dspy-subgraph-bench-");
  const scratch = await createScratchDatabase(database === "mariadb" ? { name: "mariadb", mysqlUrl } : { name: "sqlite" });
  const server = await startServerProcess({ DATA_DIR: data.dir, DSPY_ADAPTER: "python", WORKERS, EXECUTE_RATE_LIMIT: "off", ...(scratch.databaseUrl ? { DATABASE_URL: scratch.databaseUrl } : {}) });
  const programId = await createPredictProgram(server.url, "bench-executions");
  return {
    label: `subgraph on ${database} (executeProgram wait, ${WORKERS} workers)`,
    target: executeTarget(`subgraph_${database}`, server.url, programId),
    async stop() {
      await server.stop();
      await scratch.drop();
      data.remove();
    },
  };
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  // MariaDB too when a server is given (npm run bench:executions starts a private one when MariaDB is installed).
  const mysqlUrl = process.env.TEST_MYSQL_URL;
  const subgraphs: Subgraph[] = [];
  let peer: Awaited<ReturnType<typeof startPeer>> | undefined;
  const results: Record<string, Record<number, Level>> = { fastapi: {} };
  try {
    subgraphs.push(await startSubgraph("sqlite"));
    if (mysqlUrl) subgraphs.push(await startSubgraph("mariadb", mysqlUrl));
    peer = await startPeer();
    const peerUrl = peer.url;
    const fastapi: Target = {
      name: "fastapi",
      async call(question) {
        const response = await fetch(peerUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: question }) });
        const body = (await response.json()) as { data?: { answer?: string } };
        return response.ok && body.data?.answer === "Paris";
      },
    };
    for (const subgraph of subgraphs) results[subgraph.target.name] = {};
    for (const clients of LEVELS) {
      for (const target of [...subgraphs.map((subgraph) => subgraph.target), fastapi]) {
        await closedLoop(target, clients, WARMUP_SECONDS, false);
        results[target.name][clients] = await closedLoop(target, clients, SECONDS, true);
        const r = results[target.name][clients];
        console.error(`${target.name} @${clients}: ${r.rps.toFixed(1)} req/s, p50 ${r.latency.p50.toFixed(2)} ms, p99 ${r.latency.p99.toFixed(2)} ms, errors ${r.errors}`);
      }
    }
  } finally {
    await peer?.stop();
    for (const subgraph of subgraphs) await subgraph.stop();
  }

  const rows: string[][] = [["clients", "system", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "req/s vs FastAPI"]];
  const figures: Record<string, number | string> = {};
  const labels = new Map<string, string>([...subgraphs.map((subgraph): [string, string] => [subgraph.target.name, subgraph.label]), ["fastapi", "FastAPI + dspy.asyncify (1 uvicorn)"]]);
  for (const clients of LEVELS) {
    for (const [name, label] of labels) {
      const r = results[name][clients];
      const ratio = name === "fastapi" ? "" : `${(r.rps / results.fastapi[clients].rps).toFixed(2)}x`;
      rows.push([String(clients), label, ms(r.rps).toString(), ms(r.latency.p50, 2).toString(), ms(r.latency.p99, 2).toString(), ms(r.latency.max).toString(), String(r.errors), ratio]);
      figures[`${name}_c${clients}_rps`] = ms(r.rps);
      figures[`${name}_c${clients}_p50_ms`] = ms(r.latency.p50, 2);
      figures[`${name}_c${clients}_p99_ms`] = ms(r.latency.p99, 2);
      figures[`${name}_c${clients}_errors`] = r.errors;
      if (name !== "fastapi") figures[`${name}_rps_ratio_c${clients}`] = ms(r.rps / results.fastapi[clients].rps, 2);
    }
  }
  figures.workers = Number(WORKERS);
  figures.seconds_per_level = SECONDS;
  const cpu = await serverCpuPerExecution();
  console.error(`node CPU per execution (in-process adapter, 8 clients): ${cpu.cpuMsPerExecution.toFixed(2)} ms over ${cpu.executions} executions`);
  figures.node_cpu_ms_per_execution = ms(cpu.cpuMsPerExecution, 2);
  figures.node_cpu_executions = cpu.executions;
  figures.seconds = ms((Date.now() - startedAt) / 1000, 0);
  console.log(table(rows));
  console.log(table([["measure", "value"], ["Node CPU per execution (server process, in-process adapter, 8 clients)", `${ms(cpu.cpuMsPerExecution, 2)} ms (${cpu.executions} executions)`]]));
  console.log(JSON.stringify(figures));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
