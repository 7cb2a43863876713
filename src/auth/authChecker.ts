import type { AuthCheckerFn } from "type-graphql";
import type { GraphQLContext } from "../graphql/context.js";
import { type Principal, Role, forbidden, hasRole, unauthenticated } from "./roles.js";

/**
 * The caller's principal if it has (at least) one of `roles`; otherwise UNAUTHENTICATED (no or
 * bad credentials, or a token that expired since) or FORBIDDEN (a role too low). An empty list
 * means any authenticated caller.
 */
export function requireRole(ctx: GraphQLContext, roles: readonly Role[] | Role = Role.VIEWER): Principal {
  const principal = ctx.principal;
  if (!principal) throw ctx.authError ?? unauthenticated("no credentials: send 'Authorization: Bearer <JWT>' or 'X-API-Key: <key>'");
  if (principal.expiresAt && principal.expiresAt.getTime() <= Date.now()) throw unauthenticated("token expired");
  const wanted = typeof roles === "string" ? [roles] : roles.length > 0 ? roles : [Role.VIEWER];
  if (!wanted.some((role) => hasRole(principal.role, role))) throw forbidden(wanted[0], principal.role);
  return principal;
}

/** TypeGraphQL's hook behind every `@Authorized(...)`: throws the AppError itself, so the code is ours. */
export const authChecker: AuthCheckerFn<GraphQLContext, Role> = async ({ context }, roles) => {
  const principal = requireRole(context, roles);
  // A key revoked since it was authenticated is refused from then on, open subscriptions included.
  if (principal.apiKeyId && (await context.services.apiKeys.isRevoked(principal.apiKeyId))) throw unauthenticated("API key revoked");
  return true;
};
