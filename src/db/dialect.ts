import type { QueryRunner } from "typeorm";

/**
 * The one place that knows which SQL database is underneath: SQLite (embedded default) or
 * MySQL/MariaDB. Everything else asks here.
 */
export type Dialect = "sqlite" | "mysql";

export function dialectOf(queryRunner: Pick<QueryRunner, "connection">): Dialect {
  return queryRunner.connection.driver.options.type === "better-sqlite3" ? "sqlite" : "mysql";
}

/** Column options of a creation/update timestamp, as TypeORM's Create/UpdateDateColumn declare them. */
export function timestampColumn(dialect: Dialect, name: string, onUpdate: boolean) {
  if (dialect === "sqlite") {
    return { name, type: "datetime", default: "datetime('now')", isNullable: false };
  }
  return {
    name,
    type: "datetime",
    precision: 6,
    default: "CURRENT_TIMESTAMP(6)",
    ...(onUpdate ? { onUpdate: "CURRENT_TIMESTAMP(6)" } : {}),
    isNullable: false,
  };
}

/** Whether a driver error is a unique-constraint violation. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.driverError?.code ?? e?.code;
  return code === "ER_DUP_ENTRY" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}

/** Whether a driver error is InnoDB rolling a transaction back as a deadlock victim. */
export function isDeadlock(error: unknown): boolean {
  const e = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  return (e?.driverError?.code ?? e?.code) === "ER_LOCK_DEADLOCK";
}

/** Whether a driver error is a foreign-key violation. */
export function isForeignKeyViolation(error: unknown): boolean {
  const e = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.driverError?.code ?? e?.code;
  return code === "ER_ROW_IS_REFERENCED_2" || code === "ER_NO_REFERENCED_ROW_2" || code === "SQLITE_CONSTRAINT_FOREIGNKEY";
}

/** Column options of a point in time with millisecond precision (queue and transition times). */
export function instantColumn(name: string, isNullable: boolean) {
  return { name, type: "datetime", precision: 3, isNullable };
}

/**
 * Whether a driver error means the database cannot be reached or used right now (connection refused or
 * lost, the server going away, a lock or busy timeout, SQLite's file locked or gone): the request may
 * succeed if tried again, and the client is told UNAVAILABLE, not an internal error.
 */
export function isUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; errno?: unknown; message?: unknown; driverError?: { code?: unknown }; fatal?: unknown } | null;
  const code = String(e?.driverError?.code ?? e?.code ?? "");
  if (UNAVAILABLE_CODES.has(code) || /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|READONLY)/.test(code)) return true;
  const message = typeof e?.message === "string" ? e.message : "";
  return /connection is not open|database connection is not open|The server closed the connection|Connection lost|Can't add new command when connection is in closed state|Pool is closed|connect ETIMEDOUT|DataSource is not initialized|Connection is not established/i.test(message);
}

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENOTFOUND", "PROTOCOL_CONNECTION_LOST", "PROTOCOL_SEQUENCE_TIMEOUT",
  "ER_LOCK_WAIT_TIMEOUT", "ER_SERVER_SHUTDOWN", "ER_CON_COUNT_ERROR", "ER_TOO_MANY_USER_CONNECTIONS", "ER_QUERY_INTERRUPTED", "ER_CONNECTION_KILLED",
  "CR_SERVER_GONE_ERROR", "CR_SERVER_LOST",
]);
