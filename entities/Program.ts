import { GraphQLJSON } from "../src/graphql/scalars.js";
import { Directive, Field, ObjectType } from "type-graphql";
import { Column, Entity, Index, JoinColumn, ManyToOne, type Relation } from "typeorm";
import { LanguageModel } from "./LanguageModel.js";
import { TenantScoped } from "./TenantScoped.js";

@Directive('@key(fields: "id")')
@ObjectType({ description: "A DSPy program: a definition (data, never code) with its version history." })
@Entity("program")
@Index("UQ_program_tenant_name", ["tenantId", "name"], { unique: true })
export class Program extends TenantScoped {
  @Field()
  @Column({ type: "varchar", length: 200 })
  name!: string;

  @Field(() => String, { nullable: true })
  @Column({ type: "text", nullable: true })
  description!: string | null;

  @Field(() => GraphQLJSON, { description: "The definition of the current version." })
  @Column({ type: "json" })
  definition!: unknown;

  @Column({ type: "varchar", length: 36, nullable: true })
  languageModelId!: string | null;

  @ManyToOne(() => LanguageModel, { nullable: true, onDelete: "RESTRICT" })
  @JoinColumn({ name: "languageModelId", foreignKeyConstraintName: "FK_program_language_model" })
  languageModel?: Relation<LanguageModel> | null;

  /** Id of the version executions run by default. Not a foreign key: versions reference programs. */
  @Column({ type: "varchar", length: 36, nullable: true })
  currentVersionId!: string | null;
}
