import { SignJWT } from "jose";

/** A test server's JWT settings: pass `env` to startTestServer, sign with `bearer`. */
export function jwtAuth(secret: string): { env: Record<string, string>; bearer(sub: string, role: string, tenant: string): Promise<Record<string, string>> } {
  const issuer = "https://issuer.example.test/";
  const audience = "dspy-subgraph";
  return {
    env: { AUTH_JWT_SECRET: secret, AUTH_ISSUER: issuer, AUTH_AUDIENCE: audience },
    /** An Authorization header: an HS256 JWT for `sub` as `role` in `tenant`, valid ten minutes. */
    async bearer(sub, role, tenant) {
      const jwt = await new SignJWT({ tenant_id: tenant, role })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
        .sign(new TextEncoder().encode(secret));
      return { authorization: `Bearer ${jwt}` };
    },
  };
}
