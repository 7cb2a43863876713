import { Field, ID, Int, ObjectType } from "type-graphql";
import { newId } from "../src/ids.js";
import { BeforeInsert, Column, CreateDateColumn, PrimaryColumn, UpdateDateColumn, VersionColumn } from "typeorm";

/** Columns every entity has: a UUID, its tenant, timestamps and an optimistic-lock counter. */
@ObjectType()
export abstract class TenantScoped {
  @Field(() => ID)
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** Not exposed: the caller's tenant scopes every query instead. */
  @Column({ type: "varchar", length: 64 })
  tenantId!: string;

  @Field()
  @CreateDateColumn()
  createdAt!: Date;

  @Field()
  @UpdateDateColumn()
  updatedAt!: Date;

  @Field(() => Int, { description: "Optimistic-lock counter; pass it back as `expectedVersion` to update safely." })
  @VersionColumn({ type: "integer" })
  version!: number;

  // Generated here (UUIDv7, time-ordered) so both databases declare the same column and ids sort by creation.
  @BeforeInsert()
  assignId(): void {
    if (!this.id) this.id = newId();
  }
}
