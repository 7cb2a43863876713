import fs from "node:fs";
import path from "node:path";
import mysql from "mysql2/promise";
import { DataSource, type EntityManager } from "typeorm";
import { ENTITIES } from "../../entities/index.js";
import { MIGRATIONS } from "../../migrations/index.js";
import { type Dialect, isDeadlock } from "./dialect.js";
import { StatementBatch } from "./StatementBatch.js";

const DEADLOCK_ATTEMPTS = 3;
/** Transactions committed together at most (SQLite). */
const GROUP_COMMIT_MAX = 64;

interface QueuedTransaction {
  work: (manager: EntityManager) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface DatabaseOptions {
  /** `mysql://…`; undefined means the embedded SQLite database at `sqlitePath`. */
  databaseUrl?: string;
  /** File path, or ":memory:". */
  sqlitePath: string;
  logging?: boolean;
}

/**
 * The relational store: opens the DataSource, runs the migrations (never `synchronize`) and hands
 * out transactions. SQLite has one connection, so its transactions are queued here rather than
 * interleaved on that connection.
 */
export class Database {
  private readonly sqlitePending: QueuedTransaction[] = [];
  private sqliteDraining = false;
  private sqliteScheduled = false;

  private constructor(
    readonly dataSource: DataSource,
    readonly dialect: Dialect,
  ) {}

  static async open(options: DatabaseOptions): Promise<Database> {
    const dataSource = options.databaseUrl
      ? mysqlDataSource(options.databaseUrl, await serverFlavor(options.databaseUrl), options.logging)
      : sqliteDataSource(options.sqlitePath, options.logging);
    await dataSource.initialize();
    try {
      await dataSource.runMigrations({ transaction: "each" });
    } catch (error) {
      await dataSource.destroy();
      throw error;
    }
    return new Database(dataSource, options.databaseUrl ? "mysql" : "sqlite");
  }

  get manager(): EntityManager {
    return this.dataSource.manager;
  }

  /**
   * Runs `work` in a transaction. On MySQL, a transaction InnoDB chose as a deadlock victim is run
   * again from the start (as the server's message asks), a few times: it was rolled back whole, and
   * the work publishes nothing until it has committed.
   */
  async transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.dialect === "mysql") {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.mysqlTransaction(work);
        } catch (error) {
          if (!isDeadlock(error) || attempt >= DEADLOCK_ATTEMPTS) throw error;
        }
      }
    }
    return new Promise<T>((resolve, reject) => {
      this.sqlitePending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.sqliteDraining || this.sqliteScheduled) return;
      // Started after this turn of the event loop: better-sqlite3 is synchronous, so a transaction runs
      // whole within the microtasks of one callback, and the transactions of the other requests and
      // replies handled in the same turn would otherwise never find one to join.
      this.sqliteScheduled = true;
      setImmediate(() => {
        this.sqliteScheduled = false;
        void this.drainSqlite();
      });
    });
  }

  /** TypeORM's `DataSource.transaction`, with the statements nobody reads sent together (StatementBatch). */
  private async mysqlTransaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    StatementBatch.install(runner);
    try {
      await runner.startTransaction();
      const result = await work(runner.manager);
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  /**
   * SQLite's one connection runs one transaction at a time. Those that queued up while one ran are
   * committed together (group commit): one BEGIN … COMMIT, each in a savepoint of its own, so one
   * that fails is rolled back alone and the others still commit. Each caller learns its result only
   * after the COMMIT that made it durable. A commit costs ~100 µs here, the statements of a typical
   * transaction ~50 µs: under load most of the commits go.
   */
  private async drainSqlite(): Promise<void> {
    this.sqliteDraining = true;
    try {
      while (this.sqlitePending.length > 0) await this.commitTogether(this.sqlitePending.splice(0, GROUP_COMMIT_MAX));
    } finally {
      this.sqliteDraining = false;
    }
  }

  private async commitTogether(group: QueuedTransaction[]): Promise<void> {
    if (group.length === 1) {
      const [only] = group;
      await this.dataSource.transaction(only.work).then(only.resolve, only.reject);
      return;
    }
    const runner = this.dataSource.createQueryRunner();
    const done: [QueuedTransaction, unknown][] = [];
    // The item running, and those after it: the group failing fails them too.
    let next = 0;
    try {
      await runner.startTransaction();
      for (; next < group.length; next++) {
        const item = group[next];
        // Nested: TypeORM makes it a savepoint of the transaction above.
        await runner.startTransaction();
        try {
          const value = await item.work(runner.manager);
          await runner.commitTransaction();
          done.push([item, value]);
        } catch (error) {
          await runner.rollbackTransaction();
          item.reject(error);
        }
      }
      await runner.commitTransaction();
      for (const [item, value] of done) item.resolve(value);
    } catch (error) {
      // The group's own BEGIN, a savepoint or the COMMIT failed: none of it was written.
      await runner.rollbackTransaction().catch(() => undefined);
      for (const item of [...done.map(([item]) => item), ...group.slice(next)]) item.reject(error);
    } finally {
      await runner.release();
    }
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

function sqliteDataSource(file: string, logging = false): DataSource {
  if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true });
  return new DataSource({
    type: "better-sqlite3",
    database: file,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    enableWAL: file !== ":memory:",
    logging,
    prepareDatabase: (db: { pragma(sql: string): unknown }) => {
      db.pragma("foreign_keys = ON");
      db.pragma("busy_timeout = 5000");
      // With WAL, NORMAL syncs at checkpoints rather than on every commit: still never corrupt, and the
      // queue's many small transactions stop waiting on fsync.
      db.pragma("synchronous = NORMAL");
    },
  });
}

/** MariaDB and MySQL report their schemas differently; TypeORM needs to know which one it reads. */
async function serverFlavor(url: string): Promise<"mysql" | "mariadb"> {
  const connection = await mysql.createConnection({ uri: url, connectTimeout: 10_000 });
  try {
    const [rows] = await connection.query("SELECT VERSION() AS version");
    const version = String((rows as { version: string }[])[0]?.version ?? "");
    return version.toLowerCase().includes("mariadb") ? "mariadb" : "mysql";
  } finally {
    await connection.end();
  }
}

function mysqlDataSource(url: string, flavor: "mysql" | "mariadb", logging = false): DataSource {
  return new DataSource({
    type: flavor,
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    charset: "utf8mb4_unicode_ci",
    timezone: "Z",
    // For StatementBatch (one round trip for a transaction's unread statements); every statement is parameterised.
    multipleStatements: true,
    // mysql2 captures a stack trace at every query's call, to put the caller in a failed query's error:
    // ~13 µs a query in a profile (MariaDB, 8 clients: 1.9-2.0 -> 1.88 ms of CPU per execution). Our
    // errors carry their own context (the operation, its path, the request id in the log) instead.
    trace: false,
    logging,
  });
}
