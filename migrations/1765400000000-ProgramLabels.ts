import { type MigrationInterface, type QueryRunner, Table, TableColumn, TableForeignKey, TableIndex } from "typeorm";
import { tenantScopedColumns, varchar } from "./columns.js";

/** Program labels (setProgramLabel) and, on each execution, the label and routing key it ran by. */
export class ProgramLabels1765400000000 implements MigrationInterface {
  name = "ProgramLabels1765400000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: "program_label",
        columns: [...tenantScopedColumns(queryRunner), varchar("programId", 36), varchar("name", 64), { name: "routes", type: "json", isNullable: false }],
        indices: [new TableIndex({ name: "UQ_program_label_name", columnNames: ["tenantId", "programId", "name"], isUnique: true })],
        foreignKeys: [new TableForeignKey({ name: "FK_program_label_program", columnNames: ["programId"], referencedTableName: "program", referencedColumnNames: ["id"], onDelete: "CASCADE", onUpdate: "NO ACTION" })],
      }),
    );
    await queryRunner.addColumns("execution", [new TableColumn(varchar("label", 64, true)), new TableColumn(varchar("routingKey", 200, true))]);
    // Per-version figures over a window (programVersionStats) read a program's recent executions.
    await queryRunner.createIndex("execution", new TableIndex({ name: "IDX_execution_program_queued", columnNames: ["programId", "queuedAt"] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex("execution", "IDX_execution_program_queued");
    await queryRunner.dropColumn("execution", "routingKey");
    await queryRunner.dropColumn("execution", "label");
    await queryRunner.dropTable("program_label");
  }
}
