import { Field, Int, ObjectType, registerEnumType } from "type-graphql";
import { Column, Entity, Index, JoinColumn, ManyToOne, type Relation } from "typeorm";
import { Program } from "./Program.js";
import { TenantScoped } from "./TenantScoped.js";

export enum BatchStatus {
  /** Some of its executions are PENDING or RUNNING. */
  RUNNING = "RUNNING",
  /** Every execution is terminal. */
  FINISHED = "FINISHED",
  /** Cancelled (its executions that had not finished are CANCELLED). */
  CANCELLED = "CANCELLED",
}
registerEnumType(BatchStatus, { name: "BatchStatus" });

/**
 * One `executeProgramBatch`: the executions it created in one transaction, one per input, in order.
 * Its progress is counted from them (`pending`, `running`, `completed`, `failed`, `cancelled`).
 */
@ObjectType({ description: "Executions of one program version created together by executeProgramBatch, one per input; its counts are its executions' statuses." })
@Entity("batch")
@Index("UQ_batch_idempotency", ["tenantId", "idempotencyKey"], { unique: true })
export class Batch extends TenantScoped {
  @Field()
  @Column({ type: "varchar", length: 36 })
  programId!: string;

  @ManyToOne(() => Program, { onDelete: "CASCADE" })
  @JoinColumn({ name: "programId", foreignKeyConstraintName: "FK_batch_program" })
  program?: Relation<Program>;

  @Field({ description: "The version every execution of the batch runs." })
  @Column({ type: "varchar", length: 36 })
  programVersionId!: string;

  @Field(() => Int, { description: "Executions in the batch (one per input)." })
  @Column({ type: "integer" })
  total!: number;

  @Field(() => String, { nullable: true })
  @Column({ type: "varchar", length: 200, nullable: true })
  idempotencyKey!: string | null;

  /** Hash of what the idempotency key was first used for. */
  @Column({ type: "varchar", length: 64 })
  requestHash!: string;

  @Field(() => Date, { nullable: true, description: "When cancelBatch was called." })
  @Column({ type: "datetime", precision: 3, nullable: true })
  cancelledAt!: Date | null;
}
