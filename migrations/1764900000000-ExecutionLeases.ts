import { type MigrationInterface, type QueryRunner, TableColumn, TableIndex } from "typeorm";
import { instantColumn } from "../src/db/dialect.js";

/**
 * An attempt's lease on its execution: the instance running a RUNNING execution renews it; another
 * instance takes the execution over only once it has expired (README "Executions", "Lost instances").
 * The status index serves the reconciler's look for PENDING/RUNNING executions across tenants.
 */
export class ExecutionLeases1764900000000 implements MigrationInterface {
  name = "ExecutionLeases1764900000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn("execution", new TableColumn(instantColumn("leaseExpiresAt", true)));
    await queryRunner.createIndex("execution", new TableIndex({ name: "IDX_execution_status", columnNames: ["status", "updatedAt"] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex("execution", "IDX_execution_status");
    await queryRunner.dropColumn("execution", "leaseExpiresAt");
  }
}
