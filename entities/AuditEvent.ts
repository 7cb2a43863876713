import { GraphQLJSONObject } from "../src/graphql/scalars.js";
import { Field, ID, ObjectType } from "type-graphql";
import { Column, Entity, Index, PrimaryColumn } from "typeorm";

@ObjectType({ description: "Who made an audited change." })
export class AuditActor {
  @Field({ description: "The principal's subject: a token's `sub`, `api_key:<id>` for an API key, `dev` in development mode." })
  subject!: string;

  @Field({ description: "How the caller authenticated: jwt, api_key, dev (or system)." })
  via!: string;

  @Field(() => ID, { nullable: true, description: "The API key used, when via is api_key." })
  apiKeyId!: string | null;
}

/**
 * One change made through the API, written in the same transaction as the change. Append-only:
 * nothing updates or deletes these rows, and no foreign key ties them to the audited entity, so
 * an entity's trail outlives it.
 */
@ObjectType({ description: "One audited change: who did what to which entity, with the changed fields before and after (secrets redacted)." })
@Entity("audit_event")
@Index("IDX_audit_event_tenant_entity", ["tenantId", "entityType", "entityId"])
@Index("IDX_audit_event_tenant_at", ["tenantId", "at"])
export class AuditEvent {
  @Field(() => ID)
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** Not exposed: the caller's tenant scopes the query instead. */
  @Column({ type: "varchar", length: 64 })
  tenantId!: string;

  @Column({ type: "varchar", length: 200 })
  actorSubject!: string;

  @Column({ type: "varchar", length: 16 })
  actorVia!: string;

  @Column({ type: "varchar", length: 36, nullable: true })
  actorApiKeyId!: string | null;

  @Field(() => AuditActor)
  get actor(): AuditActor {
    return { subject: this.actorSubject, via: this.actorVia, apiKeyId: this.actorApiKeyId };
  }

  @Field({ description: "What was done, as `<entity>.<verb>`, e.g. program.update." })
  @Column({ type: "varchar", length: 64 })
  action!: string;

  @Field({ description: "The GraphQL type of the changed entity, e.g. Program." })
  @Column({ type: "varchar", length: 64 })
  entityType!: string;

  @Field(() => ID)
  @Column({ type: "varchar", length: 36 })
  entityId!: string;

  @Field(() => GraphQLJSONObject, { description: "{ field: { before, after } } for the changed fields only: after only on create, before only on delete. Secrets appear as \"[redacted]\"." })
  @Column({ type: "json" })
  changes!: Record<string, { before?: unknown; after?: unknown }>;

  @Field(() => String, { nullable: true, description: "The request that made the change (its x-request-id header, or one generated)." })
  @Column({ type: "varchar", length: 200, nullable: true })
  requestId!: string | null;

  @Field()
  @Column({ type: "datetime", precision: 3 })
  at!: Date;
}
