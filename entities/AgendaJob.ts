import { Column, Entity, Index, PrimaryColumn } from "typeorm";

/**
 * One Agenda job of the embedded job store (src/jobs/SqlJobRepository.ts). Storage only: not a
 * GraphQL type and not tenant-scoped (Agenda is infrastructure; a job's data names what it acts on).
 * Dates have millisecond precision (datetime(3) on MySQL, UTC text with milliseconds on SQLite).
 */
@Entity("agenda_job")
@Index("IDX_agenda_job_name_nextRunAt", ["name", "nextRunAt"])
@Index("IDX_agenda_job_lockedAt", ["lockedAt"])
@Index("UQ_agenda_job_uniqueKey", ["uniqueKey"], { unique: true })
export class AgendaJob {
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  @Column({ type: "varchar", length: 200 })
  name!: string;

  @Column({ type: "integer", default: 0 })
  priority!: number;

  @Column({ type: "datetime", precision: 3, nullable: true })
  nextRunAt!: Date | null;

  /** "normal" or "single" (one row per name, upserted by `agenda.every`). */
  @Column({ type: "varchar", length: 16 })
  type!: string;

  @Column({ type: "datetime", precision: 3, nullable: true })
  lockedAt!: Date | null;

  @Column({ type: "datetime", precision: 3, nullable: true })
  lastRunAt!: Date | null;

  @Column({ type: "datetime", precision: 3, nullable: true })
  lastFinishedAt!: Date | null;

  @Column({ type: "datetime", precision: 3, nullable: true })
  failedAt!: Date | null;

  @Column({ type: "integer", nullable: true })
  failCount!: number | null;

  @Column({ type: "text", nullable: true })
  failReason!: string | null;

  /** A number of milliseconds is stored as its decimal text; Agenda reads both forms alike. */
  @Column({ type: "varchar", length: 200, nullable: true })
  repeatInterval!: string | null;

  @Column({ type: "varchar", length: 100, nullable: true })
  repeatTimezone!: string | null;

  @Column({ type: "varchar", length: 200, nullable: true })
  repeatAt!: string | null;

  @Column({ type: "json", nullable: true })
  data!: unknown;

  @Column({ type: "boolean", default: false })
  disabled!: boolean;

  @Column({ type: "boolean", default: false })
  fork!: boolean;

  @Column({ type: "double", nullable: true })
  progress!: number | null;

  @Column({ type: "varchar", length: 200, nullable: true })
  lastModifiedBy!: string | null;

  @Column({ type: "datetime", precision: 3, nullable: true })
  startDate!: Date | null;

  @Column({ type: "datetime", precision: 3, nullable: true })
  endDate!: Date | null;

  @Column({ type: "json", nullable: true })
  skipDays!: number[] | null;

  @Column({ type: "datetime", precision: 3, nullable: true })
  debounceStartedAt!: Date | null;

  /**
   * A database-enforced guard against concurrent duplicate inserts: set for `single` jobs (from
   * the name) and for jobs saved with a `unique` constraint (from the name and the constraint).
   */
  @Column({ type: "varchar", length: 64, nullable: true })
  uniqueKey!: string | null;
}
