import { type MigrationInterface, type QueryRunner, TableColumn } from "typeorm";
import { varchar } from "./columns.js";

/** The trace an execution belongs to (src/observability/tracing.ts): the traceparent of the request that created it. */
export class ExecutionTraceparent1765100000000 implements MigrationInterface {
  name = "ExecutionTraceparent1765100000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn("execution", new TableColumn(varchar("traceparent", 55, true)));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn("execution", "traceparent");
  }
}
