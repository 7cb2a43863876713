import fs from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { type JWTVerifyGetKey, createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify } from "jose";
import type { AuthConfig } from "../config.js";
import { AppError } from "../errors.js";
import type { ApiKeyService } from "./ApiKeyService.js";
import { type Principal, Role, isRole, unauthenticated } from "./roles.js";

/** What a caller presented: the `Authorization` header's value and/or an `X-API-Key`. */
export interface Credentials {
  authorization?: string;
  apiKey?: string;
}

/** The only algorithm accepted with AUTH_JWT_SECRET. */
export const SECRET_ALGORITHMS = ["HS256"];
/** Algorithms accepted with AUTH_JWKS: asymmetric only, so a public key can never be used as an HMAC secret. */
export const JWKS_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"];
/** Leeway for `exp` / `nbf` between this host's clock and the issuer's. */
const CLOCK_TOLERANCE_S = 30;
const MAX_TENANT_LENGTH = 64;

/** Reads credentials from HTTP headers: `Authorization: Bearer <jwt>` and `X-API-Key: <key>`. */
export function credentialsFromHeaders(headers: IncomingHttpHeaders): Credentials {
  const apiKey = headers["x-api-key"];
  return { authorization: headers.authorization, apiKey: Array.isArray(apiKey) ? apiKey.join(",") : apiKey };
}

/** Reads credentials from a graphql-ws `connection_init` payload: `{ authorization }` or `{ "x-api-key" }` (any letter case). */
export function credentialsFromConnectionParams(params: Readonly<Record<string, unknown>> | undefined): Credentials {
  const credentials: Credentials = {};
  for (const [name, value] of Object.entries(params ?? {})) {
    if (typeof value !== "string") continue;
    const lower = name.toLowerCase();
    if (lower === "authorization") credentials.authorization = value;
    else if (lower === "x-api-key") credentials.apiKey = value;
  }
  return credentials;
}

/**
 * Turns credentials into a Principal, or fails with UNAUTHENTICATED and the reason. JWTs are
 * verified with `jose`: signature, algorithm (HS256 for a secret; asymmetric ones for a JWKS),
 * issuer, audience and expiry (`exp` is required); then `sub`, `tenant_id` and `role` must be there.
 */
export class Authenticator {
  private constructor(
    private readonly config: AuthConfig,
    private readonly defaultTenant: string,
    private readonly apiKeys: ApiKeyService,
    private readonly jwtKey: Uint8Array | JWTVerifyGetKey | undefined,
    private readonly algorithms: string[],
  ) {}

  static create(config: AuthConfig, defaultTenant: string, apiKeys: ApiKeyService): Authenticator {
    const jwt = config.jwt;
    if (!jwt) return new Authenticator(config, defaultTenant, apiKeys, undefined, []);
    if (jwt.secret !== undefined) return new Authenticator(config, defaultTenant, apiKeys, new TextEncoder().encode(jwt.secret), SECRET_ALGORITHMS);
    const source = jwt.jwks as string;
    if (/^https?:\/\//.test(source)) return new Authenticator(config, defaultTenant, apiKeys, createRemoteJWKSet(new URL(source)), JWKS_ALGORITHMS);
    let jwks: unknown;
    try {
      jwks = JSON.parse(fs.readFileSync(source, "utf8"));
    } catch (error) {
      throw new AppError("BAD_CONFIG", `AUTH_JWKS: cannot read a JSON Web Key Set from '${source}': ${error instanceof Error ? error.message : String(error)}`);
    }
    try {
      return new Authenticator(config, defaultTenant, apiKeys, createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]), JWKS_ALGORITHMS);
    } catch (error) {
      throw new AppError("BAD_CONFIG", `AUTH_JWKS: '${source}' is not a JSON Web Key Set: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  get devMode(): boolean {
    return this.config.devMode;
  }

  async authenticate(credentials: Credentials): Promise<Principal> {
    if (this.config.devMode) return { subject: "dev", tenantId: this.defaultTenant, role: Role.ADMIN, via: "dev" };
    const authorization = credentials.authorization?.trim() || undefined;
    const apiKey = credentials.apiKey?.trim() || undefined;
    if (authorization && apiKey) throw unauthenticated("send either Authorization or X-API-Key, not both");
    if (apiKey) return this.apiKeys.authenticate(apiKey);
    if (!authorization) throw unauthenticated("no credentials: send 'Authorization: Bearer <JWT>' or 'X-API-Key: <key>'");
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!match) throw unauthenticated("the Authorization header must be 'Bearer <JWT>'");
    return this.verifyJwt(match[1]);
  }

  private async verifyJwt(token: string): Promise<Principal> {
    if (!this.jwtKey || !this.config.jwt) throw unauthenticated("bearer tokens are not accepted here (no AUTH_JWT_SECRET or AUTH_JWKS configured); use an API key");
    let payload: Record<string, unknown>;
    try {
      const options = {
        algorithms: this.algorithms,
        issuer: this.config.jwt.issuer,
        audience: this.config.jwt.audience,
        requiredClaims: ["exp"],
        clockTolerance: CLOCK_TOLERANCE_S,
      };
      const result =
        this.jwtKey instanceof Uint8Array ? await jwtVerify(token, this.jwtKey, options) : await jwtVerify(token, this.jwtKey, options);
      payload = result.payload as Record<string, unknown>;
    } catch (error) {
      throw unauthenticated(jwtFailure(error));
    }
    const { sub, tenant_id: tenantId, role, exp } = payload;
    if (typeof sub !== "string" || sub === "") throw unauthenticated("token has no 'sub' claim");
    if (typeof tenantId !== "string" || tenantId === "" || tenantId.length > MAX_TENANT_LENGTH) {
      throw unauthenticated(`token has no valid 'tenant_id' claim (a string of 1 to ${MAX_TENANT_LENGTH} characters)`);
    }
    if (role === undefined) throw unauthenticated("token has no 'role' claim");
    if (!isRole(role)) throw unauthenticated(`token has an unknown role '${String(role).slice(0, 40)}' (expected viewer, runner, editor or admin)`);
    return { subject: sub, tenantId, role, via: "jwt", expiresAt: new Date((exp as number) * 1000 + CLOCK_TOLERANCE_S * 1000) };
  }
}

/** A reason a client can act on; never the token itself. */
function jwtFailure(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "token expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "iss") return "wrong issuer";
    if (error.claim === "aud") return "wrong audience";
    if (error.claim === "exp") return "token has no 'exp' claim (expiry is required)";
    if (error.claim === "nbf") return "token not valid yet";
    return `claim '${error.claim}' invalid`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return "algorithm refused";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad signature";
  if (error instanceof errors.JWKSNoMatchingKey) return "no key in the key set matches the token";
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return "the key set could not be fetched";
  if (error instanceof errors.JOSENotSupported) return "algorithm refused";
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return "malformed token";
  if (error instanceof errors.JOSEError) return `invalid token (${error.code})`;
  console.error("[auth] token verification failed unexpectedly:", error);
  return "invalid token";
}
