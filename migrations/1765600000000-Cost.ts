import { type MigrationInterface, type QueryRunner, TableColumn, TableIndex } from "typeorm";

/** Prices a language model overrides (USD per million tokens), and what each execution cost (USD). */
export class Cost1765600000000 implements MigrationInterface {
  name = "Cost1765600000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumns("language_model", [
      new TableColumn({ name: "inputCostPerMTokens", type: "double", isNullable: true }),
      new TableColumn({ name: "outputCostPerMTokens", type: "double", isNullable: true }),
    ]);
    await queryRunner.addColumn("execution", new TableColumn({ name: "cost", type: "double", isNullable: true }));
    // Spend over a period (spend, budgets) sums a tenant's executions finished in it.
    await queryRunner.createIndex("execution", new TableIndex({ name: "IDX_execution_tenant_finished", columnNames: ["tenantId", "finishedAt"] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex("execution", "IDX_execution_tenant_finished");
    await queryRunner.dropColumn("execution", "cost");
    await queryRunner.dropColumn("language_model", "outputCostPerMTokens");
    await queryRunner.dropColumn("language_model", "inputCostPerMTokens");
  }
}
