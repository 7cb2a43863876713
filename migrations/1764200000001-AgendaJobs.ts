import { type MigrationInterface, type QueryRunner, Table, type TableColumnOptions, TableIndex } from "typeorm";
import { varchar } from "./columns.js";

/** The embedded Agenda job store (src/jobs/SqlJobRepository.ts): one row per Agenda job. */
export class AgendaJobs1764200000001 implements MigrationInterface {
  name = "AgendaJobs1764200000001";

  async up(queryRunner: QueryRunner): Promise<void> {
    // datetime(3) on MySQL; SQLite ignores the precision and TypeORM stores UTC text with milliseconds.
    const instant = (name: string): TableColumnOptions => ({ name, type: "datetime", precision: 3, isNullable: true });
    await queryRunner.createTable(
      new Table({
        name: "agenda_job",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          varchar("name", 200),
          { name: "priority", type: "integer", isNullable: false, default: 0 },
          instant("nextRunAt"),
          varchar("type", 16),
          instant("lockedAt"),
          instant("lastRunAt"),
          instant("lastFinishedAt"),
          instant("failedAt"),
          { name: "failCount", type: "integer", isNullable: true },
          { name: "failReason", type: "text", isNullable: true },
          varchar("repeatInterval", 200, true),
          varchar("repeatTimezone", 100, true),
          varchar("repeatAt", 200, true),
          { name: "data", type: "json", isNullable: true },
          { name: "disabled", type: "boolean", isNullable: false, default: 0 },
          { name: "fork", type: "boolean", isNullable: false, default: 0 },
          { name: "progress", type: "double", isNullable: true },
          varchar("lastModifiedBy", 200, true),
          instant("startDate"),
          instant("endDate"),
          { name: "skipDays", type: "json", isNullable: true },
          instant("debounceStartedAt"),
          varchar("uniqueKey", 64, true),
        ],
        indices: [
          new TableIndex({ name: "IDX_agenda_job_name_nextRunAt", columnNames: ["name", "nextRunAt"] }),
          new TableIndex({ name: "IDX_agenda_job_lockedAt", columnNames: ["lockedAt"] }),
          new TableIndex({ name: "UQ_agenda_job_uniqueKey", columnNames: ["uniqueKey"], isUnique: true }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable("agenda_job");
  }
}
