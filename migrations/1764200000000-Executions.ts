import { type MigrationInterface, type QueryRunner, Table, TableForeignKey, TableIndex } from "typeorm";
import { instantColumn } from "../src/db/dialect.js";
import { tenantScopedColumns, varchar } from "./columns.js";

/** Executions and their append-only transition log. */
export class Executions1764200000000 implements MigrationInterface {
  name = "Executions1764200000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const integer = (name: string) => ({ name, type: "integer", isNullable: false });
    const json = (name: string, isNullable: boolean) => ({ name, type: "json", isNullable });
    const cascadeTo = (name: string, column: string, table: string) =>
      new TableForeignKey({ name, columnNames: [column], referencedTableName: table, referencedColumnNames: ["id"], onDelete: "CASCADE", onUpdate: "NO ACTION" });

    await queryRunner.createTable(
      new Table({
        name: "execution",
        columns: [
          ...tenantScopedColumns(queryRunner),
          varchar("programId", 36),
          varchar("programVersionId", 36),
          varchar("languageModelId", 36),
          json("inputs", false),
          json("outputs", true),
          varchar("status", 16),
          json("error", true),
          json("trace", true),
          json("usage", true),
          integer("attempt"),
          integer("maxAttempts"),
          varchar("idempotencyKey", 200, true),
          varchar("requestHash", 64),
          integer("transitions"),
          instantColumn("queuedAt", false),
          instantColumn("startedAt", true),
          instantColumn("finishedAt", true),
        ],
        indices: [
          new TableIndex({ name: "IDX_execution_program", columnNames: ["programId"] }),
          new TableIndex({ name: "IDX_execution_tenant_status", columnNames: ["tenantId", "status"] }),
          new TableIndex({ name: "UQ_execution_idempotency", columnNames: ["tenantId", "idempotencyKey"], isUnique: true }),
        ],
        foreignKeys: [
          cascadeTo("FK_execution_program", "programId", "program"),
          cascadeTo("FK_execution_program_version", "programVersionId", "program_version"),
        ],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: "execution_event",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          varchar("tenantId", 64),
          varchar("executionId", 36),
          integer("seq"),
          varchar("fromStatus", 16, true),
          varchar("toStatus", 16),
          instantColumn("at", false),
          { name: "reason", type: "text", isNullable: false },
          integer("attempt"),
        ],
        indices: [new TableIndex({ name: "UQ_execution_event_seq", columnNames: ["executionId", "seq"], isUnique: true })],
        foreignKeys: [cascadeTo("FK_execution_event_execution", "executionId", "execution")],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable("execution_event");
    await queryRunner.dropTable("execution");
  }
}
