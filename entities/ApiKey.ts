import { Field, ObjectType } from "type-graphql";
import { Column, Entity, Index } from "typeorm";
import { Role } from "../src/auth/roles.js";
import { TenantScoped } from "./TenantScoped.js";

/**
 * An API key of one tenant, with one role. The key itself is never stored: only its SHA-256
 * (`hash`) and its first characters (`prefix`, to tell keys apart in a list).
 */
@ObjectType({ description: "An API key: scoped to the tenant that created it and to one role. The secret is shown once, by createApiKey." })
@Entity("api_key")
@Index("UQ_api_key_hash", ["hash"], { unique: true })
@Index("IDX_api_key_tenant", ["tenantId"])
export class ApiKey extends TenantScoped {
  @Field()
  @Column({ type: "varchar", length: 200 })
  name!: string;

  @Field(() => Role)
  @Column({ type: "varchar", length: 16 })
  role!: Role;

  @Field({ description: "The key's first characters, to recognise it; not enough to use it." })
  @Column({ type: "varchar", length: 16 })
  prefix!: string;

  /** Hex SHA-256 of the whole key. Never exposed. */
  @Column({ type: "varchar", length: 64 })
  hash!: string;

  @Field(() => String, { nullable: true, description: "Who created the key (the subject of their credential)." })
  @Column({ type: "varchar", length: 200, nullable: true })
  createdBy!: string | null;

  @Field(() => Date, { nullable: true, description: "Set once revoked; a revoked key is refused." })
  @Column({ type: "datetime", precision: 3, nullable: true })
  revokedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: "When the key was last used, to the minute (it is written at most once a minute)." })
  @Column({ type: "datetime", precision: 3, nullable: true })
  lastUsedAt!: Date | null;
}
