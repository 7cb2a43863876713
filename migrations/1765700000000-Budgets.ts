import { type MigrationInterface, type QueryRunner, Table, TableIndex } from "typeorm";
import { tenantScopedColumns, varchar } from "./columns.js";

/** Spending limits per tenant or language model, per UTC day or month (setBudget). */
export class Budgets1765700000000 implements MigrationInterface {
  name = "Budgets1765700000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: "budget",
        columns: [...tenantScopedColumns(queryRunner), varchar("languageModelId", 36, true), varchar("scopeKey", 36), varchar("period", 8), { name: "limitUsd", type: "double", isNullable: false }],
        indices: [new TableIndex({ name: "UQ_budget_scope", columnNames: ["tenantId", "scopeKey", "period"], isUnique: true })],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable("budget");
  }
}
