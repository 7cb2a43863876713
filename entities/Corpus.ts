import { Directive, Field, Int, ObjectType, registerEnumType } from "type-graphql";
import { Column, Entity, Index } from "typeorm";
import { ExecutionError } from "./Execution.js";
import { TenantScoped } from "./TenantScoped.js";

/** Where a corpus's embedding stands; its documents are searchable once it is READY. */
export enum CorpusStatus {
  /** No documents yet. */
  EMPTY = "EMPTY",
  /** Documents wait for the embedding job. */
  PENDING = "PENDING",
  /** The job is embedding documents (embeddedCount grows). */
  EMBEDDING = "EMBEDDING",
  /** Every document has its vector. */
  READY = "READY",
  /** The last embedding job failed (see `error`); adding documents tries again. */
  FAILED = "FAILED",
}
registerEnumType(CorpusStatus, { name: "CorpusStatus" });

@Directive('@key(fields: "id")')
@ObjectType({ description: "A collection of documents embedded for retrieval (a Retrieve module searches it)." })
@Entity("corpus")
@Index("UQ_corpus_tenant_name", ["tenantId", "name"], { unique: true })
export class Corpus extends TenantScoped {
  @Field()
  @Column({ type: "varchar", length: 200 })
  name!: string;

  @Field(() => String, { nullable: true })
  @Column({ type: "text", nullable: true })
  description!: string | null;

  @Field({ description: "`local/all-MiniLM-L6-v2` (runs in the workers, offline) or a litellm embedding model string." })
  @Column({ type: "varchar", length: 200 })
  embeddingModel!: string;

  @Field(() => CorpusStatus)
  @Column({ type: "varchar", length: 16 })
  status!: CorpusStatus;

  @Field(() => Int, { nullable: true, description: "Dimensions of the vectors, once a document is embedded." })
  @Column({ type: "integer", nullable: true })
  dims!: number | null;

  @Field(() => ExecutionError, { nullable: true, description: "Why the last embedding job failed (status FAILED)." })
  @Column({ type: "json", nullable: true })
  error!: ExecutionError | null;
}
