import fs from "node:fs";
import BetterSqlite3 from "better-sqlite3";
import { MongoClient } from "mongodb";
import mysql from "mysql2/promise";
import os from "node:os";
import path from "node:path";
import { startFakeOpenAI } from "./fakeOpenAI.js";
import { expectData, graphql } from "./graphql.js";
import { createScratchDatabase, databaseTargets } from "./harness.js";
import { mongoTestUrl, scratchMongoDatabase } from "./mongo.js";
import { type ServerProcess, startServerProcess } from "./serverProcess.js";
import { createProgram } from "./stacks.js";

/**
 * Fault scenarios with several real server processes on one set of stores (test/chaos.test.ts): the
 * embedded SQLite file shared by the instances, MariaDB with the SQL job store, and MariaDB with
 * jobs in MongoDB (FerretDB). A fake OpenAI server counts the LM calls of each execution (its
 * question carries a tag), which is how a double run shows.
 */
export interface ChaosStack {
  name: "sqlite" | "mariadb" | "mariadb+ferretdb";
  /** Environment for every instance, how to lose jobs behind the product's back, and how to drop the stores. */
  prepare(dataDir: string): Promise<{ env: Record<string, string>; jobs: JobStoreTamper; drop(): Promise<void> }>;
}

/** Faults injected straight into the job store, as a lost write or an operator's mistake would. */
export interface JobStoreTamper {
  /** Deletes every execute-program job; resolves with how many there were. */
  removeAll(): Promise<number>;
  /** Leaves every execute-program job unlocked and unscheduled: there, but never to run again. */
  killAll(): Promise<number>;
}

/** Tampering with the SQL job store (table agenda_job) through `run(sql)`, which returns the affected rows. */
function sqlTamper(run: (sql: string) => Promise<number>): JobStoreTamper {
  return {
    removeAll: () => run("DELETE FROM agenda_job WHERE name = 'execute-program'"),
    killAll: () => run("UPDATE agenda_job SET nextRunAt = NULL, lockedAt = NULL WHERE name = 'execute-program'"),
  };
}

function mariadbTamper(databaseUrl: string): JobStoreTamper {
  return sqlTamper(async (sql) => {
    const connection = await mysql.createConnection({ uri: databaseUrl });
    try {
      const [result] = await connection.query(sql);
      return (result as { affectedRows: number }).affectedRows;
    } finally {
      await connection.end();
    }
  });
}

export function chaosStacks(): ChaosStack[] {
  const result: ChaosStack[] = [
    {
      name: "sqlite",
      prepare: async (dataDir) => ({
        env: {},
        jobs: sqlTamper(async (sql) => {
          const db = new BetterSqlite3(path.join(dataDir, "subgraph.sqlite"));
          try {
            db.pragma("busy_timeout = 5000");
            return db.prepare(sql).run().changes;
          } finally {
            db.close();
          }
        }),
        drop: async () => undefined,
      }),
    },
  ];
  const mariadb = databaseTargets().find((t) => t.name === "mariadb");
  if (!mariadb) return result;
  result.push({
    name: "mariadb",
    async prepare() {
      const sql = await createScratchDatabase(mariadb);
      return { env: { DATABASE_URL: sql.databaseUrl ?? "" }, jobs: mariadbTamper(sql.databaseUrl ?? ""), drop: () => sql.drop() };
    },
  });
  const mongo = mongoTestUrl();
  if (mongo) {
    result.push({
      name: "mariadb+ferretdb",
      async prepare() {
        const sql = await createScratchDatabase(mariadb);
        const jobs = scratchMongoDatabase(mongo);
        const collection = async <T>(work: (c: ReturnType<ReturnType<MongoClient["db"]>["collection"]>) => Promise<T>) => {
          const client = new MongoClient(jobs.url, { serverSelectionTimeoutMS: 5000 });
          try {
            await client.connect();
            return await work(client.db().collection("agendaJobs"));
          } finally {
            await client.close();
          }
        };
        return {
          env: { DATABASE_URL: sql.databaseUrl ?? "", MONGO_URL: jobs.url },
          jobs: {
            removeAll: () => collection(async (c) => (await c.deleteMany({ name: "execute-program" })).deletedCount),
            killAll: () => collection(async (c) => (await c.updateMany({ name: "execute-program" }, { $set: { nextRunAt: null, lockedAt: null } })).modifiedCount),
          },
          drop: async () => (await sql.drop(), await jobs.drop()),
        };
      },
    });
  }
  return result;
}

/** Short lock and lease lifetimes, quick polls and reconciler rounds: faults play out in seconds. */
export const CHAOS_ENV = {
  DSPY_ADAPTER: "python",
  WORKERS: "1",
  WORKER_CONCURRENCY: "8",
  OPTIMIZATION_WORKERS: "0",
  JOB_LOCK_LIFETIME_MS: "3000",
  JOB_POLL_MS: "200",
  EXECUTION_RECONCILE_MS: "2000",
  EXECUTION_RETRY_BACKOFF_MS: "100",
  EXECUTE_RATE_LIMIT: "off",
};

export interface Figures {
  stack: string;
  scenario: string;
  accepted: number;
  terminal: number;
  completed: number;
  /** Executions whose LM was called more than once although nothing stopped or paused. */
  doubleRun: number;
  /** Executions still PENDING or RUNNING when the scenario's deadline passed. */
  stuck: number;
  lmCalls: number;
}

/** Instances on one stack, the fake LM that counts calls per execution tag, and what they started. */
export class ChaosCluster {
  readonly instances: ServerProcess[] = [];
  readonly callsByTag = new Map<string, number>();
  private lm?: Awaited<ReturnType<typeof startFakeOpenAI>>;
  private dataDir = "";
  private env: Record<string, string> = {};
  private drop: () => Promise<void> = async () => undefined;
  jobs?: JobStoreTamper;
  programId = "";

  constructor(
    private readonly stack: ChaosStack,
    /** How long the fake LM takes for the `nth` call (1-based) of one execution. */
    private readonly delayMs: (nth: number) => number,
    private readonly extraEnv: Record<string, string> = {},
  ) {}

  async start(instances: number): Promise<void> {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dspy-subgraph-chaos-"));
    const stores = await this.stack.prepare(this.dataDir);
    this.drop = stores.drop;
    this.jobs = stores.jobs;
    this.env = { ...CHAOS_ENV, DATA_DIR: this.dataDir, ...stores.env, ...this.extraEnv };
    this.lm = await startFakeOpenAI(({ prompt }) => {
      const tag = /chaos-[0-9a-z-]+/.exec(prompt)?.[0] ?? "untagged";
      const nth = (this.callsByTag.get(tag) ?? 0) + 1;
      this.callsByTag.set(tag, nth);
      // A "-stream-" tag's answer is long and streamed slowly (about a second), for output followed mid-run.
      if (tag.includes("-stream-")) return { fields: { answer: `done ${tag} ${"word ".repeat(60)}` }, delayMs: this.delayMs(nth), pieceChars: 3, pieceDelayMs: 10 };
      return { fields: { answer: `done ${tag}` }, delayMs: this.delayMs(nth) };
    });
    // One at a time: the first runs the migrations.
    for (let i = 0; i < instances; i++) await this.addInstance();
    const program = await createProgram(this.instances[0].url, `chaos-${this.stack.name}`, { model: "openai/chaos", apiBase: this.lm.url, cache: false });
    this.programId = program.programId;
  }

  async addInstance(): Promise<ServerProcess> {
    const instance = await startServerProcess(this.env);
    this.instances.push(instance);
    return instance;
  }

  /** Queues `count` executions through `instance`, each tagged; resolves with their ids. */
  async submit(instance: ServerProcess, count: number, prefix: string): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const result = await graphql(instance.url, `mutation($p: ID!, $q: String!) { executeProgram(input: { programId: $p, inputs: { question: $q, n: 1 } }) { id } }`, {
        p: this.programId,
        q: `chaos-${prefix}-${i}`,
      });
      ids.push(expectData(result).executeProgram.id);
    }
    return ids;
  }

  /**
   * Sends `count` waited-for executions (`wait: true`) to `instance` without waiting for their answers
   * (which never come if it dies), each tagged; resolves once all of them exist, with their ids (read
   * through `reader`).
   */
  async submitWaited(instance: ServerProcess, reader: ServerProcess, count: number, prefix: string): Promise<string[]> {
    for (let i = 0; i < count; i++) {
      void graphql(instance.url, `mutation($p: ID!, $q: String!) { executeProgram(input: { programId: $p, inputs: { question: $q, n: 1 }, wait: true }) { id } }`, {
        p: this.programId,
        q: `chaos-${prefix}-${i}`,
      }).catch(() => undefined);
    }
    const deadline = Date.now() + 20_000;
    for (;;) {
      const result = await graphql(reader.url, `query($p: ID!) { executions(programId: $p, first: 100) { edges { node { id inputs } } } }`, { p: this.programId });
      const ids = expectData(result)
        .executions.edges.filter((edge: { node: { inputs: { question?: string } } }) => edge.node.inputs.question?.startsWith(`chaos-${prefix}-`))
        .map((edge: { node: { id: string } }) => edge.node.id);
      if (ids.length === count) return ids;
      if (Date.now() > deadline) throw new Error(`only ${ids.length} of ${count} waited-for executions were created`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Statuses of `ids`, read through `instance`. */
  async statuses(instance: ServerProcess, ids: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const id of ids) {
      const result = await graphql(instance.url, `query($id: ID!) { execution(id: $id) { status } }`, { id });
      out.set(id, expectData(result).execution.status);
    }
    return out;
  }

  /** Waits until every one of `ids` is terminal or `timeoutMs` passes; returns the last statuses. */
  async settle(instance: ServerProcess, ids: string[], timeoutMs: number): Promise<Map<string, string>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const statuses = await this.statuses(instance, ids);
      if ([...statuses.values()].every(isTerminal) || Date.now() > deadline) return statuses;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** The figures of the executions `statuses` holds, whose tags start with `chaos-${prefix}`. */
  figures(scenario: string, prefix: string, statuses: Map<string, string>, countDoubleRuns: boolean): Figures {
    const values = [...statuses.values()];
    const tags = [...this.callsByTag.entries()].filter(([tag]) => tag.startsWith(`chaos-${prefix}`));
    return {
      stack: this.stack.name,
      scenario,
      accepted: statuses.size,
      terminal: values.filter(isTerminal).length,
      completed: values.filter((s) => s === "COMPLETED").length,
      doubleRun: countDoubleRuns ? tags.filter(([, n]) => n > 1).length : 0,
      stuck: values.filter((s) => !isTerminal(s)).length,
      lmCalls: tags.reduce((sum, [, n]) => sum + n, 0),
    };
  }

  /** Everything a failed assertion should show: each instance's output, last lines first. */
  output(): string {
    return this.instances.map((instance, i) => `--- instance ${i} ---\n${instance.output().slice(-4_000)}`).join("\n");
  }

  async stop(): Promise<void> {
    for (const instance of this.instances) {
      try {
        if (instance.child.pid) process.kill(-instance.child.pid, "SIGCONT");
      } catch {
        // Gone already.
      }
      await instance.kill();
    }
    await this.lm?.close();
    await this.drop();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Sends `signal` to an instance and everything it started, as when its machine pauses or dies. */
export function signalGroup(instance: ServerProcess, signal: NodeJS.Signals): void {
  if (instance.child.pid) process.kill(-instance.child.pid, signal);
}

export function isTerminal(status: string): boolean {
  return status === "COMPLETED" || status === "FAILED" || status === "CANCELLED";
}

/** One line per scenario, for people reading the test output (README "Chaos suite"). */
export function printFigures(rows: Figures[]): void {
  console.log("      stack             scenario                 accepted terminal completed stuck double-run lm-calls");
  for (const r of rows) {
    console.log(
      `      ${r.stack.padEnd(17)} ${r.scenario.padEnd(24)} ${String(r.accepted).padStart(8)} ${String(r.terminal).padStart(8)} ${String(r.completed).padStart(9)} ${String(r.stuck).padStart(5)} ${String(r.doubleRun).padStart(10)} ${String(r.lmCalls).padStart(8)}`,
    );
  }
}
