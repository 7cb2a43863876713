import type { RunUsage } from "../src/adapters/DspyAdapter.js";
import { GraphQLJSON, GraphQLJSONObject } from "../src/graphql/scalars.js";
import { Directive, Field, Float, Int, ObjectType } from "type-graphql";
import { Column, Entity, Index, JoinColumn, ManyToOne, type Relation } from "typeorm";
import { Dataset } from "./Dataset.js";
import { ExampleSplit } from "./Example.js";
import { ExecutionError, ExecutionStatus } from "./Execution.js";
import { Program } from "./Program.js";
import { ProgramVersion } from "./ProgramVersion.js";
import { TenantScoped } from "./TenantScoped.js";

@ObjectType({ description: "How far an evaluation is: examples scored so far, of `total`." })
export class EvaluationProgress {
  @Field(() => Int) done!: number;
  @Field(() => Int, { nullable: true }) total!: number | null;
}

/** One example's outcome (the worker's wire names). */
export interface EvaluationResultRecord {
  inputs: Record<string, unknown>;
  labels: Record<string, unknown>;
  prediction: Record<string, unknown> | null;
  score: number;
  error: string | null;
}

@Directive('@key(fields: "id")')
@ObjectType({ description: "dspy.Evaluate of one program version on one split of a dataset with a declarative metric. Its status changes only through the evaluation state machine." })
@Entity("evaluation")
@Index("IDX_evaluation_tenant_finished", ["tenantId", "finishedAt"])
@Index("IDX_evaluation_program", ["programId"])
@Index("IDX_evaluation_tenant_status", ["tenantId", "status"])
export class Evaluation extends TenantScoped {
  @Column({ type: "varchar", length: 36 })
  programId!: string;

  @ManyToOne(() => Program, { onDelete: "CASCADE" })
  @JoinColumn({ name: "programId", foreignKeyConstraintName: "FK_evaluation_program" })
  program?: Relation<Program>;

  @Column({ type: "varchar", length: 36 })
  programVersionId!: string;

  @ManyToOne(() => ProgramVersion, { onDelete: "CASCADE" })
  @JoinColumn({ name: "programVersionId", foreignKeyConstraintName: "FK_evaluation_program_version" })
  programVersion?: Relation<ProgramVersion>;

  @Column({ type: "varchar", length: 36 })
  datasetId!: string;

  @ManyToOne(() => Dataset, { onDelete: "CASCADE" })
  @JoinColumn({ name: "datasetId", foreignKeyConstraintName: "FK_evaluation_dataset" })
  dataset?: Relation<Dataset>;

  /** The LM chosen when the evaluation was queued (the program's LM at that moment). */
  @Column({ type: "varchar", length: 36 })
  languageModelId!: string;

  @Field(() => ExampleSplit)
  @Column({ type: "varchar", length: 8 })
  split!: ExampleSplit;

  @Field(() => GraphQLJSONObject, { description: "The declarative metric: {kind, output, label, tolerance?, judge?}." })
  @Column({ type: "json" })
  metric!: Record<string, unknown>;

  @Field(() => Int, { nullable: true, description: "dspy.Evaluate's threads (null: 1)." })
  @Column({ type: "integer", nullable: true })
  numThreads!: number | null;

  @Field(() => ExecutionStatus)
  @Column({ type: "varchar", length: 16 })
  status!: ExecutionStatus;

  @Field(() => Float, { nullable: true, description: "0–100 as dspy.Evaluate reports it (mean per-example score × 100, 2 decimals). Set when COMPLETED." })
  @Column({ type: "double", nullable: true })
  score!: number | null;

  @Field(() => GraphQLJSON, { nullable: true, description: "Per example, in the split's order: {inputs, labels, prediction, score (0–1), error}. Set when COMPLETED." })
  @Column({ type: "json", nullable: true })
  results!: EvaluationResultRecord[] | null;

  @Column({ type: "integer" })
  progressDone!: number;

  @Column({ type: "integer", nullable: true })
  progressTotal!: number | null;

  @Field(() => ExecutionError, { nullable: true, description: "Set when FAILED." })
  @Column({ type: "json", nullable: true })
  error!: ExecutionError | null;

  @Field()
  @Column({ type: "datetime", precision: 3 })
  queuedAt!: Date;

  @Field(() => Date, { nullable: true })
  @Column({ type: "datetime", precision: 3, nullable: true })
  startedAt!: Date | null;

  @Field(() => Date, { nullable: true })
  @Column({ type: "datetime", precision: 3, nullable: true })
  finishedAt!: Date | null;

  /** While RUNNING: until when the attempt's instance holds it (src/state/lease.ts). */
  @Column({ type: "datetime", precision: 3, nullable: true })
  leaseExpiresAt!: Date | null;

  @Field(() => GraphQLJSON, { nullable: true, description: "Its LM calls when COMPLETED: promptTokens, completionTokens, totalTokens, lmCalls, and byLanguageModel (by id)." })
  @Column({ type: "json", nullable: true })
  usage!: RunUsage | null;

  @Field(() => Float, { nullable: true, description: "What its LM calls cost (USD), each at its model's price; null when no price is known." })
  @Column({ type: "double", nullable: true })
  cost!: number | null;
}
