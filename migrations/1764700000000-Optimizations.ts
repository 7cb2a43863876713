import { type MigrationInterface, type QueryRunner, Table, TableColumn, TableForeignKey, TableIndex } from "typeorm";
import { instantColumn } from "../src/db/dialect.js";
import { tenantScopedColumns, varchar } from "./columns.js";

/** Optimizations (DSPy optimizers on a program version), and what versions keep of them. */
export class Optimizations1764700000000 implements MigrationInterface {
  name = "Optimizations1764700000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const json = (name: string, isNullable: boolean) => ({ name, type: "json", isNullable });
    const cascadeTo = (name: string, column: string, table: string) =>
      new TableForeignKey({ name, columnNames: [column], referencedTableName: table, referencedColumnNames: ["id"], onDelete: "CASCADE", onUpdate: "NO ACTION" });
    await queryRunner.createTable(
      new Table({
        name: "optimization",
        columns: [
          ...tenantScopedColumns(queryRunner),
          varchar("programId", 36),
          varchar("programVersionId", 36),
          varchar("datasetId", 36),
          varchar("languageModelId", 36),
          varchar("reflectionLanguageModelId", 36, true),
          varchar("optimizer", 48),
          json("config", false),
          varchar("trainSplit", 8),
          varchar("devSplit", 8, true),
          json("metric", false),
          { name: "seed", type: "integer", isNullable: true },
          varchar("status", 16),
          varchar("phase", 16, true),
          { name: "metricCalls", type: "integer", isNullable: false },
          { name: "trials", type: "integer", isNullable: false },
          { name: "bestScore", type: "double", isNullable: true },
          { name: "score", type: "double", isNullable: true },
          varchar("resultVersionId", 36, true),
          json("error", true),
          instantColumn("queuedAt", false),
          instantColumn("startedAt", true),
          instantColumn("finishedAt", true),
        ],
        indices: [
          new TableIndex({ name: "IDX_optimization_program", columnNames: ["programId"] }),
          new TableIndex({ name: "IDX_optimization_tenant_status", columnNames: ["tenantId", "status"] }),
        ],
        foreignKeys: [
          cascadeTo("FK_optimization_program", "programId", "program"),
          cascadeTo("FK_optimization_program_version", "programVersionId", "program_version"),
          cascadeTo("FK_optimization_dataset", "datasetId", "dataset"),
        ],
      }),
    );
    // A version an optimization created links back to it (no foreign key: either may outlive the other's row).
    await queryRunner.addColumn("program_version", new TableColumn(varchar("optimizationId", 36, true)));
    // What DSPy's save() wrote for an optimized or imported version.
    await queryRunner.addColumn("program_version", new TableColumn({ name: "dspyState", type: "json", isNullable: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn("program_version", "dspyState");
    await queryRunner.dropColumn("program_version", "optimizationId");
    await queryRunner.dropTable("optimization");
  }
}
