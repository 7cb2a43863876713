import "reflect-metadata";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../src/workers/bridgePaths.js";
import { createScratchDatabase } from "../test/support/harness.js";
import { startServerProcess } from "../test/support/serverProcess.js";
import { closedLoop, executeTarget, type Level, type Target } from "./closedLoop.js";
import { table } from "./stats.js";
import { cpuSecondsOf, createPredictProgram, freePort, graphql, ms, PREDICT_DEFINITION, runBench, sleep, tempDir } from "./support.js";

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
 *
 * Then a second comparison, "1 ms OpenAI-compatible LM": the same Predict program on a language model
 * `openai/bench-model` (cache off) whose apiBase is bench/fakeOpenAIServer.ts, its own process, answering
 * every chat completion after 1 ms. Systems: the subgraph with DSPY_ADAPTER=auto (the native adapter runs
 * the program in Node), the subgraph with DSPY_ADAPTER=python (WORKERS workers), both on SQLite, native on
 * MariaDB too with TEST_MYSQL_URL, and the FastAPI peer on `dspy.LM` against the same fake server
 * (PEER_LM_API_BASE). The first execution of each subgraph must report the adapter it is there for, else
 * the bench fails. Same levels and warm-up; BENCH_OPENAI_SECONDS measured per level and system, by
 * default min(BENCH_SECONDS, 6), which keeps the whole bench under about 6 minutes at defaults with MariaDB.
 *
 * Last, Node's CPU per execution (serverCpu), next to the CPU per request of an empty query and of a one-row
 * read on the same server: the floors an execution's own cost sits on.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const LEVELS = (process.env.BENCH_CLIENTS ?? "1,8,32").split(",").map(Number);
const WORKERS = process.env.WORKERS ?? "2";
const OPENAI_SECONDS = Number(process.env.BENCH_OPENAI_SECONDS ?? Math.min(SECONDS, 6));
const FAKE_OPENAI_SERVER = new URL("./fakeOpenAIServer.js", import.meta.url);

/** The same, with the adapter that ran it (the "1 ms OpenAI-compatible LM" comparison). */
const EXECUTE_WITH_ADAPTER = `mutation($p: ID!, $q: String!) {
  executeProgram(input: { programId: $p, inputs: { question: $q }, wait: true }) { status outputs adapter error { code message } }
}`;

/** `env`: PEER_LM_API_BASE puts the peer on dspy.LM against that server instead of DummyLM. */
async function startPeer(env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(BRIDGE_PYTHON, ["-m", "uvicorn", "fastapi_peer:app", "--host", "127.0.0.1", "--port", String(port), "--no-access-log", "--log-level", "warning"], {
    cwd: path.join(BRIDGE_DIR, "bench"),
    env: { ...process.env, ...env },
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

function peerTarget(name: string, peerUrl: string): Target {
  return {
    name,
    async call(question) {
      const response = await fetch(peerUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: question }) });
      const body = (await response.json()) as { data?: { answer?: string } };
      return response.ok && body.data?.answer === "Paris";
    },
  };
}

interface ExecutionWithAdapter {
  status: string;
  outputs?: { answer?: string } | null;
  adapter?: string | null;
  error?: { code: string; message: string } | null;
}

async function executeWithAdapter(url: string, programId: string, question: string): Promise<{ execution?: ExecutionWithAdapter; body: unknown }> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: EXECUTE_WITH_ADAPTER, variables: { p: programId, q: question } }) });
  const body = (await response.json()) as { data?: { executeProgram?: ExecutionWithAdapter } };
  return { execution: body.data?.executeProgram, body };
}

/**
 * `executeProgram(wait: true)` on a subgraph that must run it on `adapter`. The first request is checked
 * here and throws unless it COMPLETED with "Paris" on that adapter; later ones on another adapter count as errors.
 */
async function adapterTarget(name: string, url: string, programId: string, adapter: string): Promise<Target> {
  const first = await executeWithAdapter(url, programId, "What is the capital of France? (adapter check)");
  if (first.execution?.adapter !== adapter || first.execution.status !== "COMPLETED" || first.execution.outputs?.answer !== "Paris") {
    throw new Error(`${name}: the first execution should have COMPLETED with "Paris" on the ${adapter} adapter, got ${JSON.stringify(first.body)}`);
  }
  return {
    name,
    async call(question) {
      const { execution } = await executeWithAdapter(url, programId, question);
      return execution?.status === "COMPLETED" && execution.adapter === adapter && execution.outputs?.answer === "Paris";
    },
  };
}

/** bench/fakeOpenAIServer.ts as its own process; resolves with its apiBase (…/v1) once it listens. */
async function startFakeOpenAI(): Promise<{ apiBase: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [fileURLToPath(FAKE_OPENAI_SERVER), "0"], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = once(child, "exit");
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    const apiBase = await new Promise<string>((resolve, reject) => {
      let output = "";
      const timer = setTimeout(() => reject(new Error(`the fake OpenAI server did not start in 10 s: ${output}`)), 10_000);
      child.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8");
        const newline = output.indexOf("\n");
        if (newline < 0) return;
        clearTimeout(timer);
        try {
          resolve((JSON.parse(output.slice(0, newline)) as { apiBase: string }).apiBase);
        } catch (error) {
          reject(error);
        }
      });
      void exited.then(([code]) => {
        clearTimeout(timer);
        reject(new Error(`the fake OpenAI server exited with ${String(code)}: ${output}`));
      });
    });
    return { apiBase, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}


/** What one kind of request costs the server, in CPU per request. */
interface CpuPerRequest {
  cpuMs: number;
  requests: number;
}

/** CPU of the server process `pid` per answered request of `target`, 8 closed-loop clients for BENCH_SECONDS after a warm-up. */
async function cpuPerRequest(pid: number, target: Target): Promise<CpuPerRequest> {
  await closedLoop(target, 8, WARMUP_SECONDS, false);
  const before = cpuSecondsOf(pid).total;
  const level = await closedLoop(target, 8, SECONDS, true);
  if (level.errors > 0) throw new Error(`${target.name}: ${level.errors} wrong answers`);
  return { cpuMs: ((cpuSecondsOf(pid).total - before) * 1000) / level.latency.n, requests: level.latency.n };
}

/** A GraphQL request whose answer must be `expected` (JSON), as a target. */
function queryTarget(name: string, url: string, query: string, variables: Record<string, unknown>, expected: string): Target {
  return {
    name,
    async call() {
      const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
      return JSON.stringify(await response.json()) === expected;
    },
  };
}

/**
 * Node's CPU per execution: the server process alone (its own process, DSPY_ADAPTER=in-process, so no
 * worker shares the count); CPU time from /proc. On the same server, the floors it stands on: an empty
 * query (`{ __typename }`: HTTP, express, Apollo, the request's log line and metrics) and a read of one
 * row (`program(id)`).
 */
async function serverCpu(): Promise<{ execution: CpuPerRequest; emptyQuery: CpuPerRequest; oneRowRead: CpuPerRequest }> {
  const data = tempDir("dspy-subgraph-bench-cpu-");
  const server = await startServerProcess({ DATA_DIR: data.dir, DSPY_ADAPTER: "in-process", EXECUTE_RATE_LIMIT: "off" });
  try {
    const programId = await createPredictProgram(server.url, "bench-cpu");
    const pid = server.child.pid!;
    const emptyQuery = await cpuPerRequest(pid, queryTarget("typename", server.url, "{ __typename }", {}, `{"data":{"__typename":"Query"}}`));
    const read = `query($p: ID!) { program(id: $p) { id name } }`;
    const oneRowRead = await cpuPerRequest(pid, queryTarget("program", server.url, read, { p: programId }, JSON.stringify({ data: { program: { id: programId, name: "bench-cpu" } } })));
    const execution = await cpuPerRequest(pid, executeTarget("in-process", server.url, programId));
    return { execution, emptyQuery, oneRowRead };
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

/**
 * The subgraph as its own process on `database` with DSPY_ADAPTER=`adapter`, the bench's Predict program on
 * `openai/bench-model` at `apiBase` (cache off); its target checks that `expected` ran the first execution.
 */
async function startOpenAISubgraph(name: string, adapter: "auto" | "python", expected: "native" | "python", apiBase: string, database: "sqlite" | "mariadb", mysqlUrl?: string): Promise<Subgraph> {
  const data = tempDir("dspy-subgraph-bench-");
  const scratch = await createScratchDatabase(database === "mariadb" ? { name: "mariadb", mysqlUrl } : { name: "sqlite" });
  const stop = async () => {
    await server?.stop();
    await scratch.drop();
    data.remove();
  };
  let server: Awaited<ReturnType<typeof startServerProcess>> | undefined;
  try {
    server = await startServerProcess({
      DATA_DIR: data.dir,
      DSPY_ADAPTER: adapter,
      WORKERS,
      EXECUTE_RATE_LIMIT: "off",
      LM_EGRESS_ALLOW: "127.0.0.1",
      ...(scratch.databaseUrl ? { DATABASE_URL: scratch.databaseUrl } : {}),
    });
    const lm = await graphql<{ createLanguageModel: { id: string } }>(server.url, `mutation($lm: CreateLanguageModelInput!) { createLanguageModel(input: $lm) { id } }`, {
      lm: { name: `${name}-lm`, model: "openai/bench-model", apiBase, cache: false },
    });
    const program = await graphql<{ createProgram: { id: string } }>(server.url, `mutation($n: String!, $d: JSON!, $lm: ID!) { createProgram(input: { name: $n, definition: $d, languageModelId: $lm }) { id } }`, {
      n: name,
      d: PREDICT_DEFINITION,
      lm: lm.createLanguageModel.id,
    });
    const label = expected === "native" ? `subgraph native on ${database} (DSPY_ADAPTER=auto)` : `subgraph python on ${database} (${WORKERS} workers)`;
    return { label, target: await adapterTarget(name, server.url, program.createProgram.id, expected), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The "1 ms OpenAI-compatible LM" comparison: native vs the Python pool vs the FastAPI peer, every one
 * against the same fake server; the systems alternate level by level.
 */
async function openAIComparison(mysqlUrl: string | undefined): Promise<{ results: Record<string, Record<number, Level>>; labels: Map<string, string> }> {
  const fake = await startFakeOpenAI();
  const subgraphs: Subgraph[] = [];
  let peer: Awaited<ReturnType<typeof startPeer>> | undefined;
  const results: Record<string, Record<number, Level>> = { fastapi_openai: {} };
  try {
    subgraphs.push(await startOpenAISubgraph("native_sqlite", "auto", "native", fake.apiBase, "sqlite"));
    subgraphs.push(await startOpenAISubgraph("python_openai_sqlite", "python", "python", fake.apiBase, "sqlite"));
    // Native only on MariaDB: the Python pool on MariaDB is in the DummyLM table, and the time is better spent on more seconds per level.
    if (mysqlUrl) subgraphs.push(await startOpenAISubgraph("native_mariadb", "auto", "native", fake.apiBase, "mariadb", mysqlUrl));
    peer = await startPeer({ PEER_LM_API_BASE: fake.apiBase });
    const fastapi = peerTarget("fastapi_openai", peer.url);
    for (const subgraph of subgraphs) results[subgraph.target.name] = {};
    for (const clients of LEVELS) {
      for (const target of [...subgraphs.map((subgraph) => subgraph.target), fastapi]) {
        await closedLoop(target, clients, WARMUP_SECONDS, false);
        results[target.name][clients] = await closedLoop(target, clients, OPENAI_SECONDS, true);
        const r = results[target.name][clients];
        console.error(`${target.name} @${clients}: ${r.rps.toFixed(1)} req/s, p50 ${r.latency.p50.toFixed(2)} ms, p99 ${r.latency.p99.toFixed(2)} ms, errors ${r.errors}`);
      }
    }
  } finally {
    await peer?.stop();
    for (const subgraph of subgraphs) await subgraph.stop();
    await fake.stop();
  }
  const labels = new Map<string, string>([...subgraphs.map((subgraph): [string, string] => [subgraph.target.name, subgraph.label]), ["fastapi_openai", "FastAPI + dspy.asyncify, dspy.LM (1 uvicorn)"]]);
  return { results, labels };
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
  // The "1 ms OpenAI-compatible LM" comparison, after the DummyLM one (whose processes are stopped by now).
  const openai = await openAIComparison(mysqlUrl);
  const openaiRows: string[][] = [["clients", "system (1 ms OpenAI-compatible LM)", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "req/s vs FastAPI", "native vs python"]];
  const rpsOf = (name: string, clients: number) => openai.results[name]?.[clients]?.rps;
  for (const clients of LEVELS) {
    for (const [name, label] of openai.labels) {
      const r = openai.results[name][clients];
      const peerRps = openai.results.fastapi_openai[clients].rps;
      const vsPeer = name === "fastapi_openai" ? undefined : r.rps / peerRps;
      // Native against the Python pool on the same database, when both ran there.
      const pythonRps = name.startsWith("native_") ? rpsOf(`python_openai_${name.slice("native_".length)}`, clients) : undefined;
      const vsPython = pythonRps === undefined ? undefined : r.rps / pythonRps;
      openaiRows.push([
        String(clients),
        label,
        ms(r.rps).toString(),
        ms(r.latency.p50, 2).toString(),
        ms(r.latency.p99, 2).toString(),
        ms(r.latency.max).toString(),
        String(r.errors),
        vsPeer === undefined ? "" : `${vsPeer.toFixed(2)}x`,
        vsPython === undefined ? "" : `${vsPython.toFixed(2)}x`,
      ]);
      figures[`${name}_c${clients}_rps`] = ms(r.rps);
      figures[`${name}_c${clients}_p50_ms`] = ms(r.latency.p50, 2);
      figures[`${name}_c${clients}_p99_ms`] = ms(r.latency.p99, 2);
      figures[`${name}_c${clients}_errors`] = r.errors;
      // native_sqlite's ratios are the headline ones: native_vs_fastapi_cN, native_vs_python_cN.
      const prefix = name === "native_sqlite" ? "native" : name;
      if (vsPeer !== undefined) figures[`${prefix}_vs_fastapi_c${clients}`] = ms(vsPeer, 2);
      if (vsPython !== undefined) figures[`${prefix}_vs_python_c${clients}`] = ms(vsPython, 2);
    }
  }
  figures.workers = Number(WORKERS);
  figures.seconds_per_level = SECONDS;
  figures.openai_seconds_per_level = OPENAI_SECONDS;
  const cpu = await serverCpu();
  console.error(`node CPU per execution (in-process adapter, 8 clients): ${cpu.execution.cpuMs.toFixed(2)} ms over ${cpu.execution.requests} executions`);
  figures.node_cpu_ms_per_execution = ms(cpu.execution.cpuMs, 2);
  figures.node_cpu_ms_per_empty_query = ms(cpu.emptyQuery.cpuMs, 2);
  figures.node_cpu_ms_per_one_row_read = ms(cpu.oneRowRead.cpuMs, 2);
  figures.node_cpu_executions = cpu.execution.requests;
  figures.seconds = ms((Date.now() - startedAt) / 1000, 0);
  console.log(table(rows));
  console.log(table(openaiRows));
  console.log(
    table([
      ["Node CPU per request (server process, in-process adapter, 8 clients)", "ms", "requests"],
      ["executeProgram(wait: true)", String(ms(cpu.execution.cpuMs, 2)), String(cpu.execution.requests)],
      ["floor: { __typename } (HTTP, express, Apollo, log line, metrics)", String(ms(cpu.emptyQuery.cpuMs, 2)), String(cpu.emptyQuery.requests)],
      ["floor: program(id) { id name } (one row read)", String(ms(cpu.oneRowRead.cpuMs, 2)), String(cpu.oneRowRead.requests)],
    ]),
  );
  console.log(JSON.stringify(figures));
}

runBench(main);
