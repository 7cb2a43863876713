import { Arg, Authorized, Ctx, Field, InputType, Int, Query, Resolver } from "type-graphql";
import { AuditEvent } from "../entities/index.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { type ConnectionShape, connectionType, toConnection } from "./types/connection.js";

export const AuditEventConnection = connectionType(AuditEvent, "AuditEvent");

@InputType({ description: "Every field given must match; `since` is inclusive, `until` exclusive." })
export class AuditEventFilter {
  @Field(() => String, { nullable: true, description: "e.g. Program, LanguageModel, Dataset, Execution, ApiKey." }) entityType?: string | null;
  @Field(() => String, { nullable: true }) entityId?: string | null;
  @Field(() => String, { nullable: true, description: "e.g. program.update." }) action?: string | null;
  @Field(() => String, { nullable: true, description: "The actor's subject: a token's `sub`, `api_key:<id>`, or `dev`." }) actor?: string | null;
  @Field(() => Date, { nullable: true }) since?: Date | null;
  @Field(() => Date, { nullable: true }) until?: Date | null;
}

/** The audit trail is read-only through the API: a query, and no mutation. */
@Resolver(() => AuditEvent)
export class AuditEventResolver {
  @Authorized(Role.ADMIN)
  @Query(() => AuditEventConnection, { description: "The caller's tenant's audit trail, oldest first (admins only)." })
  async auditEvents(
    @Ctx() ctx: GraphQLContext,
    @Arg("filter", () => AuditEventFilter, { nullable: true }) filter?: AuditEventFilter,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
  ): Promise<ConnectionShape<AuditEvent>> {
    return toConnection(await ctx.services.audit.list(ctx.scope, filter, { first, after }));
  }
}
