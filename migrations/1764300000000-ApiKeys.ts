import { type MigrationInterface, type QueryRunner, Table, TableIndex } from "typeorm";
import { instantColumn } from "../src/db/dialect.js";
import { tenantScopedColumns, varchar } from "./columns.js";

/** API keys: only the SHA-256 of each key is stored, with its first characters for display. */
export class ApiKeys1764300000000 implements MigrationInterface {
  name = "ApiKeys1764300000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: "api_key",
        columns: [
          ...tenantScopedColumns(queryRunner),
          varchar("name", 200),
          varchar("role", 16),
          varchar("prefix", 16),
          varchar("hash", 64),
          varchar("createdBy", 200, true),
          instantColumn("revokedAt", true),
          instantColumn("lastUsedAt", true),
        ],
        indices: [
          new TableIndex({ name: "UQ_api_key_hash", columnNames: ["hash"], isUnique: true }),
          new TableIndex({ name: "IDX_api_key_tenant", columnNames: ["tenantId"] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable("api_key");
  }
}
