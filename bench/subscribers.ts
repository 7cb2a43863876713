import "reflect-metadata";
import { Worker } from "node:worker_threads";
import { SignJWT } from "jose";
import { startServerProcess } from "../test/support/serverProcess.js";
import { table } from "./stats.js";
import { cpuSecondsOf, createPredictProgram, graphql, ms, runBench, sleep, summarize, tempDir } from "./support.js";
import type { ThreadReport, ThreadRequest } from "./subscriberThread.js";
import { TRANSITIONS } from "./wsSubscribers.js";

/**
 * bench:subscribers — 1,000 graphql-ws subscribers, each subscribed to `executionEvents(programId)`,
 * each receiving every transition of BENCH_N executions of that program (PENDING, RUNNING, COMPLETED):
 * delivery delay p50/p99/max, and a count of transitions some subscriber never received (must be 0).
 *
 * The server is its own process (`node dist/src/main.js`, embedded SQLite file, DSPY_ADAPTER=in-process:
 * an execution costs no worker time, so its three transitions come within a few ms and the fan-out is
 * what is measured). The subscribers are graphql-ws clients (ws) in this process, one WebSocket each, in
 * BENCH_CLIENT_THREADS worker threads (default 1, 2 past 2,000 subscribers; subscriberThread.ts): at 10,000
 * subscribers one thread of clients is busier than the server, where subscribers on many machines would
 * not share one.
 * Delay = receipt at the subscriber (wall clock, sub-ms) − the transition's `at` (set by the server when
 * it writes the transition, ms precision, so a delay is up to 1 ms longer than it was); same machine,
 * same clock. Executions are sent one after another with `wait: true`, BENCH_GAP_MS apart.
 * Before measuring, warm-up executions run until every subscriber has seen all of one.
 *
 * BENCH_CREDENTIALS says how the subscribers authenticate, which decides what each event costs the server
 * in credential checks (every subscriber's are checked before each event it is sent):
 * - `dev` (default): development mode, no credentials; nothing can lapse, nothing is checked;
 * - `api-key`: one viewer API key for all of them: one check per event for the whole group;
 * - `jwt`: a token of its own per subscriber, each with its own expiry: one check per subscriber per event.
 */
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const EXECUTIONS = Number(process.env.BENCH_N ?? 30);
const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 50);
// Past a few thousand, one thread of clients is busier than the server and is what gets measured.
const THREADS = Number(process.env.BENCH_CLIENT_THREADS ?? (SUBSCRIBERS > 2_000 ? 2 : 1));
const CONNECT_BATCH = 100;
const CREDENTIALS = process.env.BENCH_CREDENTIALS ?? "dev";
if (!["dev", "api-key", "jwt"].includes(CREDENTIALS)) throw new Error(`BENCH_CREDENTIALS must be dev, api-key or jwt, got '${CREDENTIALS}'`);
const JWT = { secret: new TextEncoder().encode("bench-subscribers-secret-0123456789abcdef"), issuer: "https://bench.invalid/", audience: "dspy-subgraph" };

function token(subject: string, role: string, expiresInSeconds: number): Promise<string> {
  return new SignJWT({ tenant_id: "bench", role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(JWT.issuer)
    .setAudience(JWT.audience)
    .setSubject(subject)
    .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
    .sign(JWT.secret);
}

/** The server's auth settings, the headers of the bench's own requests, and each subscriber's connection_init. */
async function credentials(): Promise<{ env: Record<string, string>; headers: Record<string, string>; forSubscribers?: (url: string) => Promise<Record<string, unknown>[]> }> {
  if (CREDENTIALS === "dev") return { env: {}, headers: {} };
  const env = { AUTH_JWT_SECRET: new TextDecoder().decode(JWT.secret), AUTH_ISSUER: JWT.issuer, AUTH_AUDIENCE: JWT.audience };
  const headers = { authorization: `Bearer ${await token("bench-admin", "admin", 3600)}` };
  const forSubscribers = async (url: string): Promise<Record<string, unknown>[]> => {
    if (CREDENTIALS === "api-key") {
      const { createApiKey } = await graphql<{ createApiKey: { secret: string } }>(url, `mutation { createApiKey(input: { name: "bench subscribers", role: VIEWER }) { secret } }`, {}, headers);
      return Array.from({ length: SUBSCRIBERS }, () => ({ "x-api-key": createApiKey.secret }));
    }
    // A second apart: no two subscribers share an expiry, so none shares a credential check.
    return Promise.all(Array.from({ length: SUBSCRIBERS }, async (_, i) => ({ authorization: `Bearer ${await token(`viewer-${i}`, "viewer", 3600 + i)}` })));
  };
  return { env, headers, forSubscribers };
}

const EXECUTE = `mutation($p: ID!, $q: String!) { executeProgram(input: { programId: $p, inputs: { question: $q }, wait: true }) { id status } }`;

/** One worker thread of subscribers (subscriberThread.ts), asked one question at a time. */
class SubscriberThread {
  private readonly worker: Worker;
  readonly connected: Promise<void>;

  constructor(wsUrl: string, programId: string, count: number, credentials?: Record<string, unknown>[]) {
    this.worker = new Worker(new URL("./subscriberThread.js", import.meta.url), { workerData: { wsUrl, programId, count, connectBatch: CONNECT_BATCH, credentials } });
    this.connected = new Promise((resolve, reject) => {
      this.worker.once("error", reject);
      this.worker.once("message", () => resolve());
    });
  }

  private ask<T>(request: ThreadRequest, pick: (message: { ok?: boolean; report?: ThreadReport }) => T): Promise<T> {
    return new Promise((resolve) => {
      this.worker.once("message", (message) => resolve(pick(message)));
      this.worker.postMessage(request);
    });
  }

  received(ids: string[], timeoutMs: number): Promise<boolean> {
    return this.ask({ type: "received", ids, timeoutMs }, (m) => m.ok === true);
  }

  report(ids: string[]): Promise<ThreadReport> {
    return this.ask({ type: "report", ids }, (m) => m.report as ThreadReport);
  }

  async close(): Promise<void> {
    await this.ask({ type: "close" }, () => undefined);
    await this.worker.terminate();
  }
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const data = tempDir("dspy-subgraph-bench-");
  const auth = await credentials();
  const server = await startServerProcess({ DATA_DIR: data.dir, DSPY_ADAPTER: "in-process", EXECUTE_RATE_LIMIT: "off", ...auth.env });
  const threads: SubscriberThread[] = [];
  const measured: string[] = [];
  const reports: ThreadReport[] = [];
  let connectSeconds = 0;
  let sendSeconds = 0;
  // CPU while the measured executions are sent and delivered: which side (server, or these clients) is busy.
  const cpu = { server: { user: 0, system: 0 }, clients: { user: 0, system: 0 }, seconds: 0 };
  let drained = false;
  const allReceived = async (ids: string[], timeoutMs: number) => (await Promise.all(threads.map((t) => t.received(ids, timeoutMs)))).every(Boolean);
  try {
    const programId = await createPredictProgram(server.url, "bench-subscribers", auth.headers);
    const wsUrl = server.url.replace(/^http/, "ws");
    const subscriberCredentials = await auth.forSubscribers?.(server.url);
    const connectStart = performance.now();
    for (let i = 0, first = 0; i < THREADS; i++) {
      const count = Math.floor(SUBSCRIBERS / THREADS) + (i < SUBSCRIBERS % THREADS ? 1 : 0);
      threads.push(new SubscriberThread(wsUrl, programId, count, subscriberCredentials?.slice(first, first + count)));
      first += count;
    }
    await Promise.all(threads.map((t) => t.connected));
    // Subscriptions are set up asynchronously after "subscribe": warm up until every one delivers.
    let ready = false;
    for (let attempt = 0; attempt < 20 && !ready; attempt++) {
      const { executeProgram } = await graphql<{ executeProgram: { id: string } }>(server.url, EXECUTE, { p: programId, q: `France? warm-up ${attempt}` }, auth.headers);
      ready = await allReceived([executeProgram.id], 3000);
    }
    if (!ready) throw new Error("not every subscriber received the warm-up executions");
    connectSeconds = (performance.now() - connectStart) / 1000;

    const sendStart = performance.now();
    const serverCpuStart = cpuSecondsOf(server.child.pid!);
    const clientCpuStart = process.cpuUsage();
    for (let i = 0; i < EXECUTIONS; i++) {
      const { executeProgram } = await graphql<{ executeProgram: { id: string; status: string } }>(server.url, EXECUTE, { p: programId, q: `Capital of France? (${i})` }, auth.headers);
      if (executeProgram.status !== "COMPLETED") throw new Error(`execution ${executeProgram.id} ended ${executeProgram.status}`);
      measured.push(executeProgram.id);
      if (GAP_MS > 0) await sleep(GAP_MS);
    }
    sendSeconds = (performance.now() - sendStart) / 1000;
    drained = await allReceived(measured, 30_000);
    const serverCpu = cpuSecondsOf(server.child.pid!);
    const clientCpu = process.cpuUsage(clientCpuStart);
    cpu.seconds = (performance.now() - sendStart) / 1000;
    cpu.server = { user: serverCpu.user - serverCpuStart.user, system: serverCpu.system - serverCpuStart.system };
    cpu.clients = { user: clientCpu.user / 1e6, system: clientCpu.system / 1e6 };
    reports.push(...(await Promise.all(threads.map((t) => t.report(measured)))));
  } finally {
    await Promise.all(threads.map((t) => t.close()));
    await server.stop();
    data.remove();
  }

  const byState = new Map<string, number[]>(TRANSITIONS.map((to) => [to, reports.flatMap((r) => r.delays[to] ?? [])]));
  const delays = [...byState.values()].flat();
  const missing = reports.reduce((sum, r) => sum + r.missing, 0);
  const complete = reports.reduce((sum, r) => sum + r.complete, 0);
  const errors = reports.reduce((sum, r) => sum + r.errors, 0);
  const expected = SUBSCRIBERS * measured.length * TRANSITIONS.length;
  const delay = summarize(delays);
  const figures = {
    subscribers: SUBSCRIBERS,
    credentials: CREDENTIALS,
    client_threads: THREADS,
    executions: measured.length,
    transitions: measured.length * TRANSITIONS.length,
    deliveries_expected: expected,
    deliveries_received: delays.length,
    missing,
    subscribers_with_every_transition: complete,
    subscription_errors: errors,
    delivery_p50_ms: ms(delay.p50),
    delivery_p99_ms: ms(delay.p99),
    delivery_max_ms: ms(delay.max),
    delivery_mean_ms: ms(delay.mean),
    // Which transition waits: all three of an execution come within a few ms, so they queue behind each other.
    delivery_p99_ms_by_state: Object.fromEntries([...byState].map(([to, samples]) => [to, ms(summarize(samples).p99)])),
    transitions_per_s: ms((measured.length * TRANSITIONS.length) / sendSeconds),
    deliveries_per_s: ms(delays.length / sendSeconds, 0),
    connect_and_warm_up_s: ms(connectSeconds),
    // Percent of one core, user + system, from the first measured execution until every delivery arrived.
    cpu_pct: Object.fromEntries(Object.entries({ server: cpu.server, clients: cpu.clients }).map(([side, { user, system }]) => [side, { user: ms((100 * user) / cpu.seconds, 0), system: ms((100 * system) / cpu.seconds, 0) }])),
    drained_in_30s: drained,
    seconds: ms((Date.now() - startedAt) / 1000, 0),
  };
  console.log(
    table([
      ["subscribers", "executions", "transitions", "deliveries", "missing", "delivery p50 ms", "p99 ms", "max ms", "deliveries/s"],
      [String(SUBSCRIBERS), String(measured.length), String(figures.transitions), `${delays.length}/${expected}`, String(missing), String(figures.delivery_p50_ms), String(figures.delivery_p99_ms), String(figures.delivery_max_ms), String(figures.deliveries_per_s)],
    ]),
  );
  console.log(JSON.stringify(figures));
  if (missing > 0 || errors > 0) process.exitCode = 1;
}

runBench(main);
