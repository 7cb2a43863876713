import { Field, ID, Int, ObjectType } from "type-graphql";
import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, type Relation } from "typeorm";
import { Execution, ExecutionStatus } from "./Execution.js";

@ObjectType({ description: "One status transition of an execution; the log is append-only." })
@Entity("execution_event")
@Index("UQ_execution_event_seq", ["executionId", "seq"], { unique: true })
export class ExecutionEvent {
  @Field(() => ID)
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  @Column({ type: "varchar", length: 64 })
  tenantId!: string;

  @Field(() => ID)
  @Column({ type: "varchar", length: 36 })
  executionId!: string;

  @ManyToOne(() => Execution, { onDelete: "CASCADE" })
  @JoinColumn({ name: "executionId", foreignKeyConstraintName: "FK_execution_event_execution" })
  execution?: Relation<Execution>;

  @Field(() => Int, { description: "1, 2, 3… per execution, in the order the transitions happened." })
  @Column({ type: "integer" })
  seq!: number;

  @Field(() => ExecutionStatus, { nullable: true, description: "Null for the creation of the execution." })
  @Column({ name: "fromStatus", type: "varchar", length: 16, nullable: true })
  from!: ExecutionStatus | null;

  @Field(() => ExecutionStatus)
  @Column({ name: "toStatus", type: "varchar", length: 16 })
  to!: ExecutionStatus;

  @Field()
  @Column({ type: "datetime", precision: 3 })
  at!: Date;

  @Field()
  @Column({ type: "text" })
  reason!: string;

  @Field(() => Int, { description: "The execution's attempt number after the transition." })
  @Column({ type: "integer" })
  attempt!: number;
}
