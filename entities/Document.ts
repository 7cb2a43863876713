import { GraphQLJSONObject } from "../src/graphql/scalars.js";
import { Field, ObjectType } from "type-graphql";
import { Column, Entity, Index, JoinColumn, ManyToOne, type Relation } from "typeorm";
import { Corpus } from "./Corpus.js";
import { TenantScoped } from "./TenantScoped.js";

@ObjectType({ description: "One document of a corpus: its text, and its embedding once the corpus job has made it." })
@Entity("corpus_document")
@Index("IDX_corpus_document_corpus_embedded", ["corpusId", "embeddedAt"])
export class Document extends TenantScoped {
  @Field()
  @Column({ type: "varchar", length: 36 })
  corpusId!: string;

  @ManyToOne(() => Corpus, { onDelete: "CASCADE" })
  @JoinColumn({ name: "corpusId", foreignKeyConstraintName: "FK_corpus_document_corpus" })
  corpus?: Relation<Corpus>;

  @Field()
  @Column({ type: "text" })
  text!: string;

  @Field(() => String, { nullable: true })
  @Column({ type: "varchar", length: 500, nullable: true })
  title!: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true })
  @Column({ type: "json", nullable: true })
  metadata!: Record<string, unknown> | null;

  /** base64 of little-endian float32, L2-normalized (a third of a JSON array's size); null until embedded. Read through `Document.embedding`. */
  @Column({ type: "text", nullable: true })
  embedding!: string | null;

  @Field(() => Date, { nullable: true, description: "When the vector was stored; null while the document waits for the embedding job." })
  @Column({ type: "datetime", precision: 3, nullable: true })
  embeddedAt!: Date | null;
}
