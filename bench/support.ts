import "reflect-metadata";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../src/config.js";
import { type RunningServer, startServer } from "../src/server.js";
import { scratchMongoDatabase } from "../test/support/mongo.js";
import { percentile } from "./stats.js";

/** Helpers shared by bench/enqueue, bench/executions and bench/subscribers. */

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? Number.NaN, mean };
}

/** Wall-clock milliseconds with sub-millisecond resolution (comparable with a server's `Date`s on this machine). */
export const nowMs = () => performance.timeOrigin + performance.now();

export interface GraphQLResult<T> {
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** One POST, as any HTTP client would send it (Node's fetch: undici, keep-alive). */
export async function graphql<T = Record<string, any>>(url: string, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as GraphQLResult<T>;
  if (body.errors?.length || !body.data) throw new Error(`GraphQL error: ${JSON.stringify(body.errors ?? body)}`);
  return body.data;
}

/** The Predict program every execution bench runs: one signature, answered by DSPy's DummyLM by substring. */
export const PREDICT_DEFINITION = {
  inputs: { question: { type: "str" } },
  modules: {
    answerer: { type: "Predict", signature: { instructions: "Answer briefly.", inputs: { question: { type: "str" } }, outputs: { answer: { type: "str" } } } },
  },
  forward: [{ call: "answerer", with: { question: "$input.question" }, as: "a" }, { return: { answer: "$a.answer" } }],
};
export const DUMMY_ANSWERS = { France: { answer: "Paris" } };

/** Creates the dummy LM and the Predict program; returns the program's id. */
export async function createPredictProgram(url: string, name: string, headers: Record<string, string> = {}): Promise<string> {
  const lm = await graphql<{ createLanguageModel: { id: string } }>(url, `mutation($lm: CreateLanguageModelInput!) { createLanguageModel(input: $lm) { id } }`, {
    lm: { name: `${name}-lm`, model: "dummy", config: { answers: DUMMY_ANSWERS } },
  }, headers);
  const program = await graphql<{ createProgram: { id: string } }>(url, `mutation($n: String!, $d: JSON!, $lm: ID!) { createProgram(input: { name: $n, definition: $d, languageModelId: $lm }) { id } }`, {
    n: name,
    d: PREDICT_DEFINITION,
    lm: lm.createLanguageModel.id,
  }, headers);
  return program.createProgram.id;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A temporary folder, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The server in this process (as test/support/harness.ts starts it): 127.0.0.1, a free port, development
 * mode (no credentials) unless `env` configures authentication, a fresh
 * SQLite file in a temporary folder (a file, as in production, not `:memory:`), and with `mongoServerUrl`
 * the jobs in a scratch database of that MongoDB server, dropped at stop.
 */
export async function startBenchServer(env: Record<string, string>, mongoServerUrl?: string): Promise<RunningServer> {
  const data = tempDir("dspy-subgraph-bench-");
  const mongo = mongoServerUrl ? scratchMongoDatabase(mongoServerUrl) : undefined;
  // Development mode (no credentials) unless the caller configures authentication, as startServerProcess does.
  const auth = Object.keys(env).some((name) => name.startsWith("AUTH_")) ? {} : { AUTH_DEV_MODE: "1" };
  const config = loadConfig({ PORT: "0", HOST: "127.0.0.1", DATA_DIR: data.dir, LM_EGRESS_ALLOW: "127.0.0.0/8,::1", ...auth, ...env, ...(mongo ? { MONGO_URL: mongo.url } : {}) });
  let server: RunningServer;
  try {
    server = await startServer(config);
  } catch (error) {
    await mongo?.drop().catch(() => undefined);
    data.remove();
    throw error;
  }
  return {
    ...server,
    async stop() {
      await server.stop();
      await mongo?.drop();
      data.remove();
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export const ms = (value: number, digits = 1) => Number(value.toFixed(digits));

/** CPU seconds a process has used so far (user, system and both), from /proc (Linux). */
export function cpuSecondsOf(pid: number): { user: number; system: number; total: number } {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  // utime and stime: fields 14 and 15 of stat, 12 and 13 after "pid (comm) ".
  const user = Number(fields[11]) / CLOCK_TICKS;
  const system = Number(fields[12]) / CLOCK_TICKS;
  return { user, system, total: user + system };
}
const CLOCK_TICKS = 100;

/** Runs a bench's `main`, then exits: with `process.exitCode` (0 unless the bench set one), or 1 after printing what it threw. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
