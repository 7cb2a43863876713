import { registerEnumType } from "type-graphql";
import { AppError } from "../errors.js";

/** What a caller may do; each role has the rights of the ones before it (README: "Authentication and roles"). */
export enum Role {
  VIEWER = "viewer",
  RUNNER = "runner",
  EDITOR = "editor",
  ADMIN = "admin",
}
registerEnumType(Role, {
  name: "Role",
  description: "viewer: read; runner: read and execute; editor: also manage programs, language models and datasets; admin: also API keys.",
});

const RANK: Record<Role, number> = { [Role.VIEWER]: 1, [Role.RUNNER]: 2, [Role.EDITOR]: 3, [Role.ADMIN]: 4 };

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && Object.hasOwn(RANK, value);
}

/** Whether `role` has the rights of `required`. */
export function hasRole(role: Role, required: Role): boolean {
  return RANK[role] >= RANK[required];
}

/** Who is calling, as established by the Authenticator. */
export interface Principal {
  /** The token's `sub`, or `api_key:<id>` for an API key, or `dev` in development mode. */
  subject: string;
  tenantId: string;
  role: Role;
  via: "jwt" | "api_key" | "dev";
  /** When the credential stops being valid (a JWT's `exp`); checked again on every subscription event. */
  expiresAt?: Date;
  /** The API key's id, when `via` is `api_key`. */
  apiKeyId?: string;
}

export function unauthenticated(reason: string): AppError {
  return new AppError("UNAUTHENTICATED", `not authenticated: ${reason}`);
}

export function forbidden(required: Role, role: Role): AppError {
  return new AppError("FORBIDDEN", `forbidden: this operation needs the ${required} role; the caller is ${role}`);
}
