import { GraphQLJSON } from "../src/graphql/scalars.js";
import { Directive, Field, Float, Int, ObjectType, registerEnumType } from "type-graphql";
import type { NormalizedProgram } from "../src/programs/definition/index.js";
import { Column, Entity, Index, JoinColumn, ManyToOne, type Relation } from "typeorm";
import { Program } from "./Program.js";
import { TenantScoped } from "./TenantScoped.js";

export enum VersionSource {
  MANUAL = "manual",
  OPTIMIZATION = "optimization",
  IMPORT = "import",
}
registerEnumType(VersionSource, { name: "VersionSource", description: "How a program version came to be." });

@Directive('@key(fields: "id")')
@ObjectType({ description: "An immutable snapshot of a program's definition (and, once optimized, its compiled state)." })
@Entity("program_version")
@Index("UQ_program_version_number", ["programId", "number"], { unique: true })
export class ProgramVersion extends TenantScoped {
  @Column({ type: "varchar", length: 36 })
  programId!: string;

  @ManyToOne(() => Program, { onDelete: "CASCADE" })
  @JoinColumn({ name: "programId", foreignKeyConstraintName: "FK_program_version_program" })
  program?: Relation<Program>;

  @Field(() => Int, { description: "1, 2, 3… per program." })
  @Column({ type: "integer" })
  number!: number;

  @Field(() => GraphQLJSON)
  @Column({ type: "json" })
  definition!: unknown;

  /** The normalized program workers run (src/programs/definition/programSchema.ts); null for versions written before it was stored. */
  @Column({ type: "json", nullable: true })
  normalized!: NormalizedProgram | null;

  @Field({ description: "SHA-256 of the canonical definition JSON." })
  @Column({ type: "varchar", length: 64 })
  contentHash!: string;

  @Field(() => GraphQLJSON, { nullable: true, description: "DSPy state (demos, instructions); null until optimized." })
  @Column({ type: "json", nullable: true })
  compiledState!: unknown;

  @Field(() => VersionSource)
  @Column({ type: "varchar", length: 20 })
  source!: VersionSource;

  @Field(() => Float, { nullable: true, description: "0–100: the score of the optimization that created it." })
  @Column({ type: "double", nullable: true })
  score!: number | null;

  /** The optimization that created it (source OPTIMIZATION). */
  @Column({ type: "varchar", length: 36, nullable: true })
  optimizationId!: string | null;

  @Field(() => GraphQLJSON, { nullable: true, description: "Exactly what DSPy's save(\"x.json\") writes for this version (compiled state plus metadata); null for a version never optimized or imported." })
  @Column({ type: "json", nullable: true })
  dspyState!: unknown;
}
