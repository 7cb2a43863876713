import fs from "node:fs";
import path from "node:path";
import mysql from "mysql2/promise";
import { DataSource, type EntityManager } from "typeorm";
import { ENTITIES } from "../../entities/index.js";
import { MIGRATIONS } from "../../migrations/index.js";
import { type Dialect, isDeadlock } from "./dialect.js";

const DEADLOCK_ATTEMPTS = 3;

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
  private sqliteQueue: Promise<unknown> = Promise.resolve();

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
          return await this.dataSource.transaction(work);
        } catch (error) {
          if (!isDeadlock(error) || attempt >= DEADLOCK_ATTEMPTS) throw error;
        }
      }
    }
    const run = this.sqliteQueue.then(() => this.dataSource.transaction(work));
    this.sqliteQueue = run.catch(() => undefined);
    return run;
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
    logging,
  });
}
