import { Directive, Field, ObjectType } from "type-graphql";
import { Column, Entity, Index } from "typeorm";
import { TenantScoped } from "./TenantScoped.js";

@Directive('@key(fields: "id")')
@ObjectType({ description: "A named collection of examples used to evaluate and optimize programs." })
@Entity("dataset")
@Index("UQ_dataset_tenant_name", ["tenantId", "name"], { unique: true })
export class Dataset extends TenantScoped {
  @Field()
  @Column({ type: "varchar", length: 200 })
  name!: string;

  @Field(() => String, { nullable: true })
  @Column({ type: "text", nullable: true })
  description!: string | null;
}
