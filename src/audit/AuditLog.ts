import type { EntityManager } from "typeorm";
import { AuditEvent } from "../../entities/index.js";
import { canonicalJson } from "../canonicalJson.js";
import { insertRow } from "../db/rows.js";
import { newId } from "../ids.js";
import { SYSTEM_ACTOR, type Scope } from "../scope.js";

/** What a secret's value is replaced with in the audit trail. */
export const REDACTED = "[redacted]";

/** Fields always redacted, whatever their name suggests. */
export const REDACTED_FIELDS: ReadonlySet<string> = new Set(["secretEnv", "hash", "secret", "apiKey", "password", "token"]);

/** Words that make a field name secret-looking, after splitting camelCase / snake_case / kebab-case. */
const SECRET_WORDS = new Set(["secret", "secrets", "password", "passwd", "passphrase", "token", "credential", "credentials", "hash", "cipher", "ciphertext", "encrypted", "private", "authorization"]);

/** Bookkeeping columns: they change on every write and say nothing a reader needs. */
const BOOKKEEPING = new Set(["id", "tenantId", "createdAt", "updatedAt", "version", "transitions"]);

/** Names already judged (most are the same few column and input names); emptied when it holds this many. */
const JUDGED_MAX = 4096;
const judged = new Map<string, boolean>();

/** Whether a field with this name holds (or may hold) a secret: `secretEnv`, `api_key`, `encryptedSecret`, `accessToken`… */
export function isSecretField(name: string): boolean {
  let secret = judged.get(name);
  if (secret === undefined) {
    // Splitting a name costs a few regular expressions; an execution's audit event judges every field of its snapshot.
    if (judged.size >= JUDGED_MAX) judged.clear();
    judged.set(name, (secret = looksSecret(name)));
  }
  return secret;
}

function looksSecret(name: string): boolean {
  if (REDACTED_FIELDS.has(name)) return true;
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  if (words.some((word) => SECRET_WORDS.has(word))) return true;
  const joined = words.join("");
  return joined.includes("apikey") || joined.includes("accesskey") || joined.includes("privatekey");
}

export type Changes = Record<string, { before?: unknown; after?: unknown }>;
export type Snapshot = Record<string, unknown>;

export interface AuditRecord {
  /** `<entity>.<verb>`, e.g. `program.update`. */
  action: string;
  /** The GraphQL type of the entity, e.g. `Program`. */
  entityType: string;
  entityId: string;
  /** The entity's fields before the change; absent for a creation. */
  before?: Snapshot | null;
  /** The entity's fields after the change; absent for a deletion. */
  after?: Snapshot | null;
}

/**
 * The audit trail's only writer. `record` must be called with the manager of the transaction that
 * makes the change, after the change: the event commits with it or rolls back with it.
 */
export class AuditLog {
  static async record(manager: EntityManager, scope: Scope, record: AuditRecord): Promise<AuditEvent> {
    const actor = scope.actor ?? SYSTEM_ACTOR;
    const event = Object.assign(new AuditEvent(), {
      id: newId(),
      tenantId: scope.tenantId,
      actorSubject: actor.subject,
      actorVia: actor.via,
      actorApiKeyId: actor.apiKeyId ?? null,
      action: record.action,
      entityType: record.entityType,
      entityId: record.entityId,
      changes: diff(record.before ?? null, record.after ?? null),
      requestId: scope.requestId ?? null,
      at: new Date(),
    });
    await insertRow(manager, AuditEvent, event);
    return event;
  }

  /**
   * The audited fields of an entity: its own columns except bookkeeping ones (id, tenant,
   * timestamps, version), or only `fields` when given. Values are plain JSON (dates as ISO strings).
   */
  static snapshot(entity: object, fields?: readonly string[]): Snapshot {
    const source = entity as Record<string, unknown>;
    const keys = fields ?? Object.keys(source).filter((key) => !BOOKKEEPING.has(key));
    const result: Snapshot = {};
    for (const key of keys) {
      const value = source[key];
      if (value === undefined || typeof value === "function") continue;
      result[key] = plain(value);
    }
    return result;
  }
}

/**
 * `{ field: { before, after } }` for the fields that differ: `after` only when there is no
 * `before` (a creation), `before` only when there is no `after` (a deletion). Secrets redacted.
 */
export function diff(before: Snapshot | null, after: Snapshot | null): Changes {
  const changes: Changes = {};
  if (before === null && after === null) return changes;
  if (before === null) {
    for (const [key, value] of Object.entries(after as Snapshot)) changes[key] = { after: redact(key, value) };
    return changes;
  }
  if (after === null) {
    for (const [key, value] of Object.entries(before)) changes[key] = { before: redact(key, value) };
    return changes;
  }
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const was = before[key] ?? null;
    const now = after[key] ?? null;
    if (canonicalJson(was) !== canonicalJson(now)) changes[key] = { before: redact(key, was), after: redact(key, now) };
  }
  return changes;
}

/** A secret-named field's value becomes "[redacted]" (null stays null); inside objects, the same by key, at any depth. */
function redact(key: string, value: unknown): unknown {
  if (isSecretField(key)) return value === null || value === undefined ? null : REDACTED;
  return redactNested(value);
}

function redactNested(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactNested);
  if (value !== null && typeof value === "object") {
    // Defined, not assigned: an own "__proto__" key in a user's JSON stays a plain key.
    const result: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) Object.defineProperty(result, key, { value: redact(key, inner), enumerable: true, writable: true, configurable: true });
    return result;
  }
  return value;
}

function plain(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === "object") return JSON.parse(JSON.stringify(value)) as unknown;
  return value;
}
