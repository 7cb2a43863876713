/** How the caller proved who they are; `system` for work no request asked for (job runner, CLI). */
export type ActorVia = "jwt" | "api_key" | "dev" | "system";

/** Who made a change, as recorded in the audit trail. */
export interface Actor {
  /** The principal's subject: a token's `sub`, `api_key:<id>`, `dev`, or e.g. `cli`. */
  subject: string;
  via: ActorVia;
  /** The API key's id, when `via` is `api_key`. */
  apiKeyId?: string | null;
}

/** Who a call acts for. Every read and write is limited to `tenantId`. */
export interface Scope {
  tenantId: string;
  /** Who is acting; mutations record it in the audit trail (absent: a system actor). */
  actor?: Actor;
  /** The request the call belongs to (HTTP `x-request-id`, or one generated per request). */
  requestId?: string;
}

export const SYSTEM_ACTOR: Actor = { subject: "system", via: "system" };
