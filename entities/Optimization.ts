import type { RunUsage } from "../src/adapters/DspyAdapter.js";
import { GraphQLJSON, GraphQLJSONObject } from "../src/graphql/scalars.js";
import type { OptimizerName } from "../src/adapters/DspyAdapter.js";
import { OPTIMIZER_ENTRIES } from "../src/catalog.js";
import { Directive, Field, Float, ID, Int, ObjectType, registerEnumType } from "type-graphql";
import { Column, Entity, Index, JoinColumn, ManyToOne, type Relation } from "typeorm";
import { Dataset } from "./Dataset.js";
import { ExampleSplit } from "./Example.js";
import { ExecutionError, ExecutionStatus } from "./Execution.js";
import { Program } from "./Program.js";
import { ProgramVersion } from "./ProgramVersion.js";
import { TenantScoped } from "./TenantScoped.js";

/** The optimizers of the shared catalog (bridge-py/dspy_bridge/catalog.json), as a GraphQL enum. */
export const Optimizer = Object.freeze(Object.fromEntries(Object.keys(OPTIMIZER_ENTRIES).map((name) => [name, name]))) as Readonly<Record<OptimizerName, OptimizerName>>;
export type Optimizer = OptimizerName;
registerEnumType(Optimizer, { name: "Optimizer", description: "A DSPy optimizer (teleprompter)." });

@ObjectType({ description: "How far an optimization is: its phase (compile, evaluate, done), metric calls, scored trials and the best trial's score (0–100)." })
export class OptimizationProgress {
  @Field(() => String, { nullable: true }) phase!: string | null;
  @Field(() => Int) metricCalls!: number;
  @Field(() => Int) trials!: number;
  @Field(() => Float, { nullable: true }) bestScore!: number | null;
}

@Directive('@key(fields: "id")')
@ObjectType({ description: "A DSPy optimizer run on a program version with a dataset's splits and a declarative metric. Its status changes only through the optimization state machine; COMPLETED creates a new (not current) program version." })
@Entity("optimization")
@Index("IDX_optimization_tenant_finished", ["tenantId", "finishedAt"])
@Index("IDX_optimization_program", ["programId"])
@Index("IDX_optimization_tenant_status", ["tenantId", "status"])
export class Optimization extends TenantScoped {
  @Column({ type: "varchar", length: 36 })
  programId!: string;

  @ManyToOne(() => Program, { onDelete: "CASCADE" })
  @JoinColumn({ name: "programId", foreignKeyConstraintName: "FK_optimization_program" })
  program?: Relation<Program>;

  /** The version optimized (the program's current one when queued, unless another was named). */
  @Column({ type: "varchar", length: 36 })
  programVersionId!: string;

  @ManyToOne(() => ProgramVersion, { onDelete: "CASCADE" })
  @JoinColumn({ name: "programVersionId", foreignKeyConstraintName: "FK_optimization_program_version" })
  programVersion?: Relation<ProgramVersion>;

  @Column({ type: "varchar", length: 36 })
  datasetId!: string;

  @ManyToOne(() => Dataset, { onDelete: "CASCADE" })
  @JoinColumn({ name: "datasetId", foreignKeyConstraintName: "FK_optimization_dataset" })
  dataset?: Relation<Dataset>;

  /** The program's LM when queued. */
  @Column({ type: "varchar", length: 36 })
  languageModelId!: string;

  /** GEPA's reflection LM. */
  @Column({ type: "varchar", length: 36, nullable: true })
  reflectionLanguageModelId!: string | null;

  @Field(() => Optimizer)
  @Column({ type: "varchar", length: 48 })
  optimizer!: Optimizer;

  @Field(() => GraphQLJSONObject, { description: "The optimizer's settings (per-optimizer keys, e.g. {max_bootstrapped_demos: 2})." })
  @Column({ type: "json" })
  config!: Record<string, unknown>;

  @Field(() => ExampleSplit)
  @Column({ type: "varchar", length: 8 })
  trainSplit!: ExampleSplit;

  @Field(() => ExampleSplit, { nullable: true, description: "Scored on (the final score); null: the train split." })
  @Column({ type: "varchar", length: 8, nullable: true })
  devSplit!: ExampleSplit | null;

  @Field(() => GraphQLJSONObject, { description: "The declarative metric: {kind, output, label, tolerance?, judge?}." })
  @Column({ type: "json" })
  metric!: Record<string, unknown>;

  @Field(() => Int, { nullable: true })
  @Column({ type: "integer", nullable: true })
  seed!: number | null;

  @Field(() => ExecutionStatus)
  @Column({ type: "varchar", length: 16 })
  status!: ExecutionStatus;

  @Column({ type: "varchar", length: 16, nullable: true })
  phase!: string | null;

  @Column({ type: "integer" })
  metricCalls!: number;

  @Column({ type: "integer" })
  trials!: number;

  @Column({ type: "double", nullable: true })
  bestScore!: number | null;

  @Field(() => Float, { nullable: true, description: "0–100: dspy.Evaluate of the optimized program on the dev split (or the train split). Set when COMPLETED." })
  @Column({ type: "double", nullable: true })
  score!: number | null;

  @Field(() => ID, { nullable: true, description: "The program version it created (COMPLETED)." })
  @Column({ type: "varchar", length: 36, nullable: true })
  resultVersionId!: string | null;

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
