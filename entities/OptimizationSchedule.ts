import { GraphQLJSONObject } from "../src/graphql/scalars.js";
import { Field, ID, Int, ObjectType, registerEnumType } from "type-graphql";
import { Column, Entity, Index, JoinColumn, ManyToOne, type Relation } from "typeorm";
import { ExampleSplit } from "./Example.js";
import { Optimizer } from "./Optimization.js";
import { Program } from "./Program.js";
import { TenantScoped } from "./TenantScoped.js";

export enum SchedulePromotion {
  ALWAYS = "ALWAYS",
  IF_BETTER = "IF_BETTER",
  NEVER = "NEVER",
}
registerEnumType(SchedulePromotion, {
  name: "SchedulePromotion",
  description: "What a scheduled optimization does with its version once COMPLETED: make it current always, only when its score beats the current version's (a current version without a score is beaten), or never.",
});

@ObjectType({ description: "A recurring optimization of a program (an Agenda job on a cron schedule): each run optimizes the program's current version and promotes the result by its policy." })
@Entity("optimization_schedule")
@Index("IDX_optimization_schedule_program", ["programId"])
export class OptimizationSchedule extends TenantScoped {
  @Field(() => ID)
  @Column({ type: "varchar", length: 36 })
  programId!: string;

  @ManyToOne(() => Program, { onDelete: "CASCADE" })
  @JoinColumn({ name: "programId", foreignKeyConstraintName: "FK_optimization_schedule_program" })
  program?: Relation<Program>;

  @Field({ description: "Cron expression (5 fields, or 6 with seconds first)." })
  @Column({ type: "varchar", length: 128 })
  cron!: string;

  @Field(() => String, { nullable: true, description: "IANA time zone of the cron expression; null: UTC." })
  @Column({ type: "varchar", length: 64, nullable: true })
  timezone!: string | null;

  @Field(() => Optimizer)
  @Column({ type: "varchar", length: 48 })
  optimizer!: Optimizer;

  @Field(() => GraphQLJSONObject)
  @Column({ type: "json" })
  config!: Record<string, unknown>;

  @Field(() => ID)
  @Column({ type: "varchar", length: 36 })
  datasetId!: string;

  @Field(() => ExampleSplit)
  @Column({ type: "varchar", length: 8 })
  trainSplit!: ExampleSplit;

  @Field(() => ExampleSplit, { nullable: true })
  @Column({ type: "varchar", length: 8, nullable: true })
  devSplit!: ExampleSplit | null;

  @Field(() => GraphQLJSONObject)
  @Column({ type: "json" })
  metric!: Record<string, unknown>;

  @Field(() => ID, { nullable: true })
  @Column({ type: "varchar", length: 36, nullable: true })
  reflectionLanguageModelId!: string | null;

  @Field(() => Int, { nullable: true })
  @Column({ type: "integer", nullable: true })
  seed!: number | null;

  @Field(() => SchedulePromotion)
  @Column({ type: "varchar", length: 16 })
  promote!: SchedulePromotion;

  @Field({ description: "False once unscheduled." })
  @Column({ type: "boolean" })
  enabled!: boolean;

  @Field(() => Date, { nullable: true })
  @Column({ type: "datetime", precision: 3, nullable: true })
  lastRunAt!: Date | null;

  @Field(() => ID, { nullable: true, description: "The optimization its last run queued." })
  @Column({ type: "varchar", length: 36, nullable: true })
  lastOptimizationId!: string | null;
}
