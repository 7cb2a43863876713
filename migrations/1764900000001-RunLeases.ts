import { type MigrationInterface, type QueryRunner, TableColumn } from "typeorm";
import { instantColumn } from "../src/db/dialect.js";

/** Evaluations and optimizations get the lease executions have (src/state/lease.ts). */
export class RunLeases1764900000001 implements MigrationInterface {
  name = "RunLeases1764900000001";

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const table of ["evaluation", "optimization"]) await queryRunner.addColumn(table, new TableColumn(instantColumn("leaseExpiresAt", true)));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ["evaluation", "optimization"]) await queryRunner.dropColumn(table, "leaseExpiresAt");
  }
}
