import { type MigrationInterface, type QueryRunner, Table, TableForeignKey, TableIndex } from "typeorm";
import { instantColumn } from "../src/db/dialect.js";
import { tenantScopedColumns, varchar } from "./columns.js";

/** Recurring optimizations (scheduleOptimization). */
export class OptimizationSchedules1764800000000 implements MigrationInterface {
  name = "OptimizationSchedules1764800000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: "optimization_schedule",
        columns: [
          ...tenantScopedColumns(queryRunner),
          varchar("programId", 36),
          varchar("cron", 128),
          varchar("timezone", 64, true),
          varchar("optimizer", 48),
          { name: "config", type: "json", isNullable: false },
          varchar("datasetId", 36),
          varchar("trainSplit", 8),
          varchar("devSplit", 8, true),
          { name: "metric", type: "json", isNullable: false },
          varchar("reflectionLanguageModelId", 36, true),
          { name: "seed", type: "integer", isNullable: true },
          varchar("promote", 16),
          { name: "enabled", type: "boolean", isNullable: false },
          instantColumn("lastRunAt", true),
          varchar("lastOptimizationId", 36, true),
        ],
        indices: [new TableIndex({ name: "IDX_optimization_schedule_program", columnNames: ["programId"] })],
        foreignKeys: [
          new TableForeignKey({ name: "FK_optimization_schedule_program", columnNames: ["programId"], referencedTableName: "program", referencedColumnNames: ["id"], onDelete: "CASCADE", onUpdate: "NO ACTION" }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable("optimization_schedule");
  }
}
