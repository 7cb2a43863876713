import { GraphQLJSON, GraphQLJSONObject } from "../src/graphql/scalars.js";
import { Directive, Field, Float, Int, ObjectType, registerEnumType } from "type-graphql";
import { Column, Entity, Index, JoinColumn, ManyToOne, type Relation } from "typeorm";
import { Program } from "./Program.js";
import { ProgramVersion } from "./ProgramVersion.js";
import { TenantScoped } from "./TenantScoped.js";

export enum ExecutionStatus {
  PENDING = "PENDING",
  RUNNING = "RUNNING",
  COMPLETED = "COMPLETED",
  FAILED = "FAILED",
  CANCELLED = "CANCELLED",
}
registerEnumType(ExecutionStatus, { name: "ExecutionStatus" });

@ObjectType({ description: "Why an execution failed: where (`layer`), what (`code`, `message`) and whether trying again may help." })
export class ExecutionError {
  @Field() code!: string;
  @Field() layer!: string;
  @Field() message!: string;
  @Field() retriable!: boolean;
  @Field(() => GraphQLJSONObject, { nullable: true, description: "Extra facts, e.g. a truncated Python traceback." })
  details?: Record<string, unknown> | null;
}

@ObjectType({ description: "Token usage of one execution, summed over its LM calls." })
export class ExecutionUsage {
  @Field(() => Int) promptTokens!: number;
  @Field(() => Int) completionTokens!: number;
  @Field(() => Int) totalTokens!: number;
  @Field(() => Int) lmCalls!: number;
}

/** The stored shape of `usage` (the worker's wire names). */
export interface UsageRecord {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  lm_calls: number;
}

@Directive('@key(fields: "id")')
@ObjectType({ description: "One run of a program version on inputs. Its status changes only through the execution state machine." })
@Entity("execution")
@Index("IDX_execution_program", ["programId"])
@Index("IDX_execution_tenant_status", ["tenantId", "status"])
@Index("IDX_execution_status", ["status", "updatedAt"])
@Index("IDX_execution_batch", ["batchId", "status"])
@Index("IDX_execution_program_queued", ["programId", "queuedAt"])
@Index("IDX_execution_tenant_finished", ["tenantId", "finishedAt"])
@Index("UQ_execution_idempotency", ["tenantId", "idempotencyKey"], { unique: true })
export class Execution extends TenantScoped {
  @Column({ type: "varchar", length: 36 })
  programId!: string;

  @ManyToOne(() => Program, { onDelete: "CASCADE" })
  @JoinColumn({ name: "programId", foreignKeyConstraintName: "FK_execution_program" })
  program?: Relation<Program>;

  @Column({ type: "varchar", length: 36 })
  programVersionId!: string;

  @ManyToOne(() => ProgramVersion, { onDelete: "CASCADE" })
  @JoinColumn({ name: "programVersionId", foreignKeyConstraintName: "FK_execution_program_version" })
  programVersion?: Relation<ProgramVersion>;

  @Field(() => String, { nullable: true, description: "The label it was run by (executeProgram(label:)), which chose its version; null when a version or the current one was asked for." })
  @Column({ type: "varchar", length: 64, nullable: true })
  label!: string | null;

  @Field(() => String, { nullable: true, description: "The caller's routing key: the same key on the same label gets the same version while the split stays." })
  @Column({ type: "varchar", length: 200, nullable: true })
  routingKey!: string | null;

  @Field(() => String, { nullable: true, description: "The batch (executeProgramBatch) that created it, if one did." })
  @Column({ type: "varchar", length: 36, nullable: true })
  batchId!: string | null;

  /** The LM chosen when the execution was queued (the program's LM at that moment). */
  @Column({ type: "varchar", length: 36 })
  languageModelId!: string;

  @Field(() => GraphQLJSONObject)
  @Column({ type: "json" })
  inputs!: Record<string, unknown>;

  @Field(() => GraphQLJSONObject, { nullable: true, description: "Set when COMPLETED." })
  @Column({ type: "json", nullable: true })
  outputs!: Record<string, unknown> | null;

  @Field(() => ExecutionStatus)
  @Column({ type: "varchar", length: 16 })
  status!: ExecutionStatus;

  @Field(() => ExecutionError, { nullable: true, description: "Set when FAILED; the last attempt's error." })
  @Column({ type: "json", nullable: true })
  error!: ExecutionError | null;

  @Field(() => GraphQLJSON, { nullable: true, description: "Each module call with its inputs, outputs, duration and LM calls." })
  @Column({ type: "json", nullable: true })
  trace!: unknown;

  @Column({ type: "json", nullable: true })
  usage!: UsageRecord | null;

  @Field(() => Float, { nullable: true, description: "What its LM calls cost, all attempts (USD): each call's tokens at its model's price (the trace's lm_calls carry each call's cost). Null when no price is known." })
  @Column({ type: "double", nullable: true })
  cost!: number | null;

  @Field(() => String, {
    nullable: true,
    description: "Which adapter ran the last attempt: 'native' (Predict / ChainOfThought in the server, DSPY_ADAPTER auto or native), 'python' (DSPy in a worker) or 'in-process'. Null until an attempt ends.",
  })
  @Column({ type: "varchar", length: 16, nullable: true })
  adapter!: string | null;

  @Field(() => Int, { description: "Attempts started so far (0 until the first one starts)." })
  @Column({ type: "integer" })
  attempt!: number;

  @Field(() => Int, { description: "Attempts allowed before a retriable error becomes FAILED." })
  @Column({ type: "integer" })
  maxAttempts!: number;

  @Field(() => String, { nullable: true })
  @Column({ type: "varchar", length: 200, nullable: true })
  idempotencyKey!: string | null;

  /** Hash of what the idempotency key was first used for, to refuse its reuse for something else. */
  @Column({ type: "varchar", length: 64 })
  requestHash!: string;

  /** Number of transitions so far: the `seq` of the latest ExecutionEvent. */
  @Column({ type: "integer" })
  transitions!: number;

  @Field()
  @Column({ type: "datetime", precision: 3 })
  queuedAt!: Date;

  @Field(() => Date, { nullable: true })
  @Column({ type: "datetime", precision: 3, nullable: true })
  startedAt!: Date | null;

  @Field(() => Date, { nullable: true })
  @Column({ type: "datetime", precision: 3, nullable: true })
  finishedAt!: Date | null;

  /**
   * While RUNNING: until when the attempt's instance holds it. That instance renews it as it runs;
   * another instance may take the execution over (as interrupted) only once it has passed.
   */
  @Column({ type: "datetime", precision: 3, nullable: true })
  leaseExpiresAt!: Date | null;

  /**
   * W3C traceparent of the request that created the execution (null when tracing was off): every
   * attempt's job continues that trace, on whichever instance runs it. GraphQL shows its `traceId`.
   */
  @Column({ type: "varchar", length: 55, nullable: true })
  traceparent!: string | null;
}
