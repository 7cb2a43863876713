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
