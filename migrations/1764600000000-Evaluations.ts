import { type MigrationInterface, type QueryRunner, Table, TableForeignKey, TableIndex } from "typeorm";
import { instantColumn } from "../src/db/dialect.js";
import { tenantScopedColumns, varchar } from "./columns.js";

/** Evaluations: dspy.Evaluate of a program version on a dataset split. */
export class Evaluations1764600000000 implements MigrationInterface {
  name = "Evaluations1764600000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const json = (name: string, isNullable: boolean) => ({ name, type: "json", isNullable });
    const cascadeTo = (name: string, column: string, table: string) =>
      new TableForeignKey({ name, columnNames: [column], referencedTableName: table, referencedColumnNames: ["id"], onDelete: "CASCADE", onUpdate: "NO ACTION" });
    await queryRunner.createTable(
      new Table({
        name: "evaluation",
        columns: [
          ...tenantScopedColumns(queryRunner),
          varchar("programId", 36),
          varchar("programVersionId", 36),
          varchar("datasetId", 36),
          varchar("languageModelId", 36),
          varchar("split", 8),
          json("metric", false),
          { name: "numThreads", type: "integer", isNullable: true },
          varchar("status", 16),
          { name: "score", type: "double", isNullable: true },
          json("results", true),
          { name: "progressDone", type: "integer", isNullable: false },
          { name: "progressTotal", type: "integer", isNullable: true },
          json("error", true),
          instantColumn("queuedAt", false),
          instantColumn("startedAt", true),
          instantColumn("finishedAt", true),
        ],
        indices: [
          new TableIndex({ name: "IDX_evaluation_program", columnNames: ["programId"] }),
          new TableIndex({ name: "IDX_evaluation_tenant_status", columnNames: ["tenantId", "status"] }),
        ],
        foreignKeys: [
          cascadeTo("FK_evaluation_program", "programId", "program"),
          cascadeTo("FK_evaluation_program_version", "programVersionId", "program_version"),
          cascadeTo("FK_evaluation_dataset", "datasetId", "dataset"),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable("evaluation");
  }
}
