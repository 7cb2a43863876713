import type { QueryRunner, TableColumnOptions } from "typeorm";
import { dialectOf, timestampColumn } from "../src/db/dialect.js";

/** The columns of `TenantScoped`, shared by every table. */
export function tenantScopedColumns(queryRunner: QueryRunner): TableColumnOptions[] {
  const dialect = dialectOf(queryRunner);
  return [
    { name: "id", type: "varchar", length: "36", isPrimary: true },
    { name: "tenantId", type: "varchar", length: "64", isNullable: false },
    timestampColumn(dialect, "createdAt", false),
    timestampColumn(dialect, "updatedAt", true),
    { name: "version", type: "integer", isNullable: false },
  ];
}

export function varchar(name: string, length: number, isNullable = false): TableColumnOptions {
  return { name, type: "varchar", length: String(length), isNullable };
}
