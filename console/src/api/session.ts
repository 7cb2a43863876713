/** The signed-in credential, kept for this browser tab only (sessionStorage), and how it is sent. */
export type CredentialKind = "apiKey" | "jwt";

export interface Credential {
  kind: CredentialKind;
  secret: string;
}

const STORAGE_KEY = "dspy-console.credential";

export function loadCredential(): Credential | null {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null") as Partial<Credential> | null;
    if (stored && (stored.kind === "apiKey" || stored.kind === "jwt") && typeof stored.secret === "string" && stored.secret !== "") {
      return { kind: stored.kind, secret: stored.secret };
    }
  } catch {
    /* unreadable: signed out */
  }
  return null;
}

export function saveCredential(credential: Credential): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(credential));
}

export function clearCredential(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** HTTP headers: the API reads X-API-Key or Authorization (README "Authentication and roles"). */
export function authHeaders(credential: Credential): Record<string, string> {
  return credential.kind === "apiKey" ? { "x-api-key": credential.secret } : { authorization: `Bearer ${credential.secret}` };
}

/** graphql-ws connection_init payload: the same credential, under the names the server reads there. */
export function connectionParams(credential: Credential): Record<string, string> {
  return credential.kind === "apiKey" ? { "x-api-key": credential.secret } : { authorization: `Bearer ${credential.secret}` };
}

/**
 * Who is signed in, for the header: an API key by its prefix (what the API lists keys by), a JWT by
 * its claims. The claims are read, not verified: the server verifies the token on every request.
 */
export function describeCredential(credential: Credential): string {
  if (credential.kind === "apiKey") return `API key ${credential.secret.slice(0, 13)}…`;
  const claims = jwtClaims(credential.secret);
  if (!claims) return "JWT";
  const parts = [claims.sub, claims.tenant_id && `tenant ${claims.tenant_id}`, claims.role].filter((part) => typeof part === "string" && part !== "");
  return parts.length > 0 ? parts.join(" · ") : "JWT";
}

function jwtClaims(token: string): Record<string, unknown> | null {
  const payload = token.split(".")[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const claims: unknown = JSON.parse(json);
    return claims && typeof claims === "object" ? (claims as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
