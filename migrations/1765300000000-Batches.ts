import { type MigrationInterface, type QueryRunner, Table, TableColumn, TableForeignKey, TableIndex } from "typeorm";
import { instantColumn } from "../src/db/dialect.js";
import { tenantScopedColumns, varchar } from "./columns.js";

/** Batches of executions (executeProgramBatch), and each execution's batch. */
export class Batches1765300000000 implements MigrationInterface {
  name = "Batches1765300000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: "batch",
        columns: [
          ...tenantScopedColumns(queryRunner),
          varchar("programId", 36),
          varchar("programVersionId", 36),
          { name: "total", type: "integer", isNullable: false },
          varchar("idempotencyKey", 200, true),
          varchar("requestHash", 64),
          instantColumn("cancelledAt", true),
        ],
        indices: [new TableIndex({ name: "UQ_batch_idempotency", columnNames: ["tenantId", "idempotencyKey"], isUnique: true })],
        foreignKeys: [new TableForeignKey({ name: "FK_batch_program", columnNames: ["programId"], referencedTableName: "program", referencedColumnNames: ["id"], onDelete: "CASCADE", onUpdate: "NO ACTION" })],
      }),
    );
    await queryRunner.addColumn("execution", new TableColumn(varchar("batchId", 36, true)));
    await queryRunner.createIndex("execution", new TableIndex({ name: "IDX_execution_batch", columnNames: ["batchId", "status"] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex("execution", "IDX_execution_batch");
    await queryRunner.dropColumn("execution", "batchId");
    await queryRunner.dropTable("batch");
  }
}
