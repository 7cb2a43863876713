import { type MigrationInterface, type QueryRunner, TableColumn, TableIndex } from "typeorm";

/** What an evaluation's or an optimization's LM calls used and cost. */
export class RunCost1765900000000 implements MigrationInterface {
  name = "RunCost1765900000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const table of ["evaluation", "optimization"]) {
      await queryRunner.addColumns(table, [new TableColumn({ name: "usage", type: "json", isNullable: true }), new TableColumn({ name: "cost", type: "double", isNullable: true })]);
      // Spend over a period (budgets) sums the runs finished in it.
      await queryRunner.createIndex(table, new TableIndex({ name: `IDX_${table}_tenant_finished`, columnNames: ["tenantId", "finishedAt"] }));
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ["evaluation", "optimization"]) {
      await queryRunner.dropIndex(table, `IDX_${table}_tenant_finished`);
      await queryRunner.dropColumn(table, "cost");
      await queryRunner.dropColumn(table, "usage");
    }
  }
}
