import { Field, Float, ID, ObjectType } from "type-graphql";
import { Column, Entity, Index, JoinColumn, ManyToOne, type Relation } from "typeorm";
import { GraphQLJSONObject } from "../src/graphql/scalars.js";
import { Execution } from "./Execution.js";
import { TenantScoped } from "./TenantScoped.js";

/** What one caller said about one execution's result: a score, a comment, the outputs it should have given. */
@ObjectType({ description: "A caller's feedback on an execution (submitFeedback): one per execution and caller, editable." })
@Entity("feedback")
@Index("UQ_feedback_caller", ["tenantId", "executionId", "subject"], { unique: true })
@Index("IDX_feedback_program", ["tenantId", "programId", "updatedAt"])
export class Feedback extends TenantScoped {
  @Field(() => ID)
  @Column({ type: "varchar", length: 36 })
  executionId!: string;

  @ManyToOne(() => Execution, { onDelete: "CASCADE" })
  @JoinColumn({ name: "executionId", foreignKeyConstraintName: "FK_feedback_execution" })
  execution?: Relation<Execution>;

  /** The execution's program and version, kept here for the per-version figures. */
  @Field(() => ID)
  @Column({ type: "varchar", length: 36 })
  programId!: string;

  @Field(() => ID)
  @Column({ type: "varchar", length: 36 })
  programVersionId!: string;

  @Field({ description: "Who gave it: a token's sub, api_key:<id>, or dev." })
  @Column({ type: "varchar", length: 200 })
  subject!: string;

  @Field(() => Float, { description: "0 (bad) to 1 (good)." })
  @Column({ type: "float" })
  score!: number;

  @Field(() => String, { nullable: true })
  @Column({ type: "text", nullable: true })
  comment!: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: "The outputs the execution should have given (some or all of the program's outputs)." })
  @Column({ type: "json", nullable: true })
  correctedOutputs!: Record<string, unknown> | null;
}
