import { GraphQLJSONObject } from "../src/graphql/scalars.js";
import { Field, ObjectType, registerEnumType } from "type-graphql";
import { Column, Entity, Index, JoinColumn, ManyToOne, type Relation } from "typeorm";
import { Dataset } from "./Dataset.js";
import { TenantScoped } from "./TenantScoped.js";

export enum ExampleSplit {
  TRAIN = "train",
  DEV = "dev",
  TEST = "test",
}
registerEnumType(ExampleSplit, { name: "ExampleSplit" });

@ObjectType({ description: "One example of a dataset: inputs and the labels a metric compares against." })
@Entity("example")
@Index("IDX_example_dataset_split", ["datasetId", "split"])
@Index("UQ_example_feedback", ["datasetId", "feedbackId"], { unique: true })
export class Example extends TenantScoped {
  @Column({ type: "varchar", length: 36 })
  datasetId!: string;

  @ManyToOne(() => Dataset, { onDelete: "CASCADE" })
  @JoinColumn({ name: "datasetId", foreignKeyConstraintName: "FK_example_dataset" })
  dataset?: Relation<Dataset>;

  @Field(() => GraphQLJSONObject)
  @Column({ type: "json" })
  inputs!: Record<string, unknown>;

  @Field(() => GraphQLJSONObject)
  @Column({ type: "json" })
  labels!: Record<string, unknown>;

  @Field(() => ExampleSplit)
  @Column({ type: "varchar", length: 8 })
  split!: ExampleSplit;

  @Field(() => String, { nullable: true, description: "The feedback it was made from (addExamplesFromFeedback), if any." })
  @Column({ type: "varchar", length: 36, nullable: true })
  feedbackId!: string | null;
}
