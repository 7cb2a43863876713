import { type MigrationInterface, type QueryRunner, Table, TableIndex } from "typeorm";
import { instantColumn } from "../src/db/dialect.js";
import { varchar } from "./columns.js";

/**
 * The audit trail: append-only, one row per change made through the API. No foreign keys, so
 * deleting an entity keeps its trail.
 */
export class AuditEvents1764400000010 implements MigrationInterface {
  name = "AuditEvents1764400000010";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: "audit_event",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          varchar("tenantId", 64),
          varchar("actorSubject", 200),
          varchar("actorVia", 16),
          varchar("actorApiKeyId", 36, true),
          varchar("action", 64),
          varchar("entityType", 64),
          varchar("entityId", 36),
          { name: "changes", type: "json", isNullable: false },
          varchar("requestId", 200, true),
          instantColumn("at", false),
        ],
        indices: [
          new TableIndex({ name: "IDX_audit_event_tenant_entity", columnNames: ["tenantId", "entityType", "entityId"] }),
          new TableIndex({ name: "IDX_audit_event_tenant_at", columnNames: ["tenantId", "at"] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable("audit_event");
  }
}
