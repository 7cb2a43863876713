import { Arg, Authorized, Ctx, Field, ID, InputType, Int, Mutation, ObjectType, Query, Resolver } from "type-graphql";
import { ApiKey } from "../entities/index.js";
import { requireRole } from "../src/auth/authChecker.js";
import { Role } from "../src/auth/roles.js";
import type { GraphQLContext } from "../src/graphql/context.js";
import { type ConnectionShape, connectionType, toConnection } from "./types/connection.js";

export const ApiKeyConnection = connectionType(ApiKey, "ApiKey");

@InputType()
export class CreateApiKeyInput {
  @Field({ description: "What the key is for, e.g. 'nightly evaluation job'." }) name!: string;
  @Field(() => Role) role!: Role;
}

@ObjectType()
export class CreateApiKeyPayload {
  @Field(() => ApiKey) apiKey!: ApiKey;
  @Field({ description: "The key. Shown this once: it is not stored and cannot be retrieved later. Send it as the X-API-Key header." })
  secret!: string;
}

@Resolver(() => ApiKey)
export class ApiKeyResolver {
  @Authorized(Role.ADMIN)
  @Query(() => ApiKeyConnection, { description: "The caller's tenant's API keys (never their secrets), oldest first." })
  async apiKeys(
    @Ctx() ctx: GraphQLContext,
    @Arg("first", () => Int, { nullable: true }) first?: number,
    @Arg("after", () => String, { nullable: true }) after?: string,
    @Arg("includeRevoked", () => Boolean, { nullable: true, defaultValue: false }) includeRevoked?: boolean,
  ): Promise<ConnectionShape<ApiKey>> {
    return toConnection(await ctx.services.apiKeys.list(ctx.scope, includeRevoked ?? false, { first, after }));
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => CreateApiKeyPayload, { description: "A new API key of the caller's tenant with `role`; the secret is in the answer and nowhere else." })
  async createApiKey(@Arg("input", () => CreateApiKeyInput) input: CreateApiKeyInput, @Ctx() ctx: GraphQLContext): Promise<CreateApiKeyPayload> {
    const principal = requireRole(ctx, Role.ADMIN);
    return ctx.services.apiKeys.create(ctx.scope, input, principal.subject);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => ApiKey, { description: "Revokes a key at once; requests with it are then UNAUTHENTICATED. Revoking twice changes nothing." })
  revokeApiKey(@Arg("id", () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ApiKey> {
    return ctx.services.apiKeys.revoke(ctx.scope, id);
  }
}
