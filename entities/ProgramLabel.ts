import { Column, Entity, Index, JoinColumn, ManyToOne, type Relation } from "typeorm";
import { Program } from "./Program.js";
import { TenantScoped } from "./TenantScoped.js";

/**
 * A name (production, staging, canary…) that points at a version of a program, or splits between
 * versions by weight. `current` is not stored here: it is the program's current version.
 */
@Entity("program_label")
@Index("UQ_program_label_name", ["tenantId", "programId", "name"], { unique: true })
export class ProgramLabel extends TenantScoped {
  @Column({ type: "varchar", length: 36 })
  programId!: string;

  @ManyToOne(() => Program, { onDelete: "CASCADE" })
  @JoinColumn({ name: "programId", foreignKeyConstraintName: "FK_program_label_program" })
  program?: Relation<Program>;

  @Column({ type: "varchar", length: 64 })
  name!: string;

  /** Each version and its weight, in the order they were given (the split is taken in that order). */
  @Column({ type: "json" })
  routes!: { versionId: string; weight: number }[];
}
