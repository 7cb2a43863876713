import "reflect-metadata";
import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";
import { loadConfig } from "../../src/config.js";
import { EgressPolicy } from "../../src/languageModels/egressPolicy.js";
import { DEFAULT_POLICIES, type LanguageModelPolicies } from "../../src/languageModels/policies.js";
import { type RunningServer, type ServerOptions, startServer } from "../../src/server.js";

export interface DatabaseTarget {
  name: "sqlite" | "mariadb";
  /** Server URL without a database; each suite gets a database of its own. */
  mysqlUrl?: string;
}

/**
 * SQLite always; MariaDB when TEST_MYSQL_URL is set (scripts/test.sh starts a private server).
 * REQUIRE_MYSQL=1 (set by CI) turns a missing MariaDB into a failure instead of a smaller run.
 */
export function databaseTargets(): DatabaseTarget[] {
  const targets: DatabaseTarget[] = [{ name: "sqlite" }];
  const url = process.env.TEST_MYSQL_URL;
  if (url) targets.push({ name: "mariadb", mysqlUrl: url });
  else if (process.env.REQUIRE_MYSQL === "1") throw new Error("REQUIRE_MYSQL=1 but TEST_MYSQL_URL is not set: the MariaDB suite must run");
  return targets;
}

/** A database of its own for one suite, dropped afterwards. */
export async function createScratchDatabase(target: DatabaseTarget): Promise<{ databaseUrl?: string; drop(): Promise<void> }> {
  if (target.name === "sqlite" || !target.mysqlUrl) return { databaseUrl: undefined, drop: async () => undefined };
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = await mysql.createConnection({ uri: target.mysqlUrl });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const url = new URL(target.mysqlUrl);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    async drop() {
      const conn = await mysql.createConnection({ uri: target.mysqlUrl });
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
}

/** The tests' fake LMs listen on 127.0.0.1, which the egress policy refuses unless allowed. */
export const LOOPBACK_EGRESS = { LM_EGRESS_ALLOW: "127.0.0.0/8,::1" };

/** The policies of a server with LOOPBACK_EGRESS, for tests that build an adapter themselves. */
export const TEST_POLICIES: LanguageModelPolicies = { ...DEFAULT_POLICIES, egress: EgressPolicy.parse(LOOPBACK_EGRESS.LM_EGRESS_ALLOW) };

export interface TestServer extends RunningServer {
  countRows(table: string): Promise<number>;
}

/** A real server on 127.0.0.1 and an OS-chosen port, on a fresh database of `target`'s kind. */
export async function startTestServer(target: DatabaseTarget, env: Record<string, string> = {}, options: ServerOptions = {}): Promise<TestServer> {
  const scratch = await createScratchDatabase(target);
  // The deterministic adapter unless a suite asks for real workers (DSPY_ADAPTER=python).
  // Development mode (no authentication, admin of the default tenant) unless the suite configures
  // authentication itself (any AUTH_* variable), as test/auth.test.ts does.
  const auth = Object.keys(env).some((name) => name.startsWith("AUTH_")) ? {} : { AUTH_DEV_MODE: "1" };
  // Warnings and errors only (worker deaths, job failures), unless a suite asks for more: a line per
  // request from every test server would bury the reporter's output.
  const config = loadConfig({ PORT: "0", HOST: "127.0.0.1", DATA_DIR: ".test-data", DSPY_ADAPTER: "in-process", LOG_LEVEL: "warn", ...LOOPBACK_EGRESS, ...auth, ...env, DATABASE_URL: scratch.databaseUrl ?? "" });
  const server = await startServer({ ...config, sqlitePath: ":memory:", ...options });
  return {
    ...server,
    async countRows(table: string) {
      const rows = (await server.database.dataSource.query(`SELECT COUNT(*) AS n FROM ${table}`)) as { n: number | string }[];
      return Number(rows[0].n);
    },
    async stop() {
      await server.stop();
      await scratch.drop();
    },
  };
}

/** Runs `body` once per database target, each in its own describe block with its own server (started with `env`). */
export function describeEachDatabase(title: string, body: (server: () => TestServer, target: DatabaseTarget) => void, env: Record<string, string> = {}): void {
  for (const target of databaseTargets()) {
    describe(`${title} [${target.name}]`, function () {
      this.timeout(60_000);
      let server: TestServer | undefined;
      before(async () => {
        server = await startTestServer(target, env);
      });
      after(async () => {
        await server?.stop();
      });
      body(() => {
        if (!server) throw new Error("server not started");
        return server;
      }, target);
    });
  }
}
