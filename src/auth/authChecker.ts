import type { AuthCheckerFn } from "type-graphql";
import type { AppError } from "../errors.js";
import type { GraphQLContext } from "../graphql/context.js";
import type { ApiKeyService } from "./ApiKeyService.js";
import { type Principal, Role, forbidden, hasRole, unauthenticated } from "./roles.js";

/**
 * The caller's principal if it has (at least) one of `roles`; otherwise UNAUTHENTICATED (no or
 * bad credentials, or a token that expired since) or FORBIDDEN (a role too low). An empty list
 * means any authenticated caller.
 */
export function requireRole(ctx: GraphQLContext, roles: readonly Role[] | Role = Role.VIEWER): Principal {
  const principal = ctx.principal;
  if (!principal) throw ctx.authError ?? unauthenticated("no credentials: send 'Authorization: Bearer <JWT>' or 'X-API-Key: <key>'");
  if (tokenExpired(principal)) throw unauthenticated("token expired");
  const wanted = typeof roles === "string" ? [roles] : roles.length > 0 ? roles : [Role.VIEWER];
  if (!wanted.some((role) => hasRole(principal.role, role))) throw forbidden(wanted[0], principal.role);
  return principal;
}

/** TypeGraphQL's hook behind every `@Authorized(...)`: throws the AppError itself, so the code is ours. */
export const authChecker: AuthCheckerFn<GraphQLContext, Role> = async ({ context }, roles) => {
  const principal = requireRole(context, roles);
  const lapse = await credentialLapse(principal, context.services.apiKeys);
  if (lapse) throw lapse;
  return true;
};

/** Whether the principal's credentials may stop holding while it is connected (a token's expiry, an API key). */
export function canLapse(principal: Principal): boolean {
  return principal.expiresAt !== undefined || principal.apiKeyId !== undefined;
}

/**
 * Why credentials accepted earlier no longer hold: a token that expired since, or an API key revoked
 * since; null while they hold. The one rule for every field of a request and for every event an open
 * subscription is sent (shared subscriptions check each subscriber's own, src/graphql/sharedSubscribe.ts).
 * Answered at once unless an API key has to be looked up: 10,000 subscribers with tokens of their own
 * cost no promise each per event.
 */
export function credentialLapse(principal: Principal, apiKeys: Pick<ApiKeyService, "isRevoked"> | undefined): AppError | null | Promise<AppError | null> {
  if (tokenExpired(principal)) return unauthenticated("token expired");
  if (!principal.apiKeyId || !apiKeys) return null;
  return apiKeys.isRevoked(principal.apiKeyId).then((revoked) => (revoked ? unauthenticated("API key revoked") : null));
}

function tokenExpired(principal: Principal): boolean {
  return principal.expiresAt !== undefined && principal.expiresAt.getTime() <= Date.now();
}
