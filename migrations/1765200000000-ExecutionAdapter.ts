import { type MigrationInterface, type QueryRunner, TableColumn } from "typeorm";
import { varchar } from "./columns.js";

/** Which adapter ran an execution's last attempt: "native" (in Node, src/native), "python" (DSPy in a worker) or "in-process". */
export class ExecutionAdapter1765200000000 implements MigrationInterface {
  name = "ExecutionAdapter1765200000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn("execution", new TableColumn(varchar("adapter", 16, true)));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn("execution", "adapter");
  }
}
