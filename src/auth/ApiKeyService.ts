import { createHash, randomBytes } from "node:crypto";
import { ApiKey } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { findInScope } from "../db/scoped.js";
import { type EventBus, listen } from "../pubsub.js";
import { AppError } from "../errors.js";
import { newId } from "../ids.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import type { Scope } from "../scope.js";
import { type Principal, Role, isRole, unauthenticated } from "./roles.js";

/** Every key starts with this, so a leaked one is recognisable (e.g. by secret scanners). */
export const API_KEY_PREFIX = "dspy_";
/** Characters of the key kept for display: the fixed prefix and 8 random characters (48 bits). */
const DISPLAY_LENGTH = API_KEY_PREFIX.length + 8;
const API_KEY_REVOKED = "API_KEY_REVOKED";
/** How stale this instance's knowledge of a key's revocation may be, should a revocation event be missed. */
const REVOCATION_RECHECK_MS = 1_000;
/** lastUsedAt is written at most this often per key. */
export const LAST_USED_RESOLUTION_MS = 60_000;
const MAX_NAME = 200;
/** What the audit trail records of a key: never its hash. */
const AUDITED_FIELDS = ["name", "role", "prefix"] as const;

/**
 * SHA-256, not a slow password hash: the key is 256 random bits, so there is nothing to guess and
 * a slow hash would only cost time on every request; a plain digest also lets the lookup be one
 * indexed equality on `hash`.
 */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

export interface CreateApiKey {
  name: string;
  role: Role;
}

export class ApiKeyService {
  /** What this instance last knew of each key's revocation, and when. */
  private readonly revocations = new Map<string, { revoked: boolean; at: number }>();

  /** With `events`, a revocation on any instance is known on every one at once (on Redis: across instances). */
  constructor(
    private readonly database: Database,
    private readonly events?: EventBus,
  ) {
    if (events) void this.followRevocations(events);
  }

  private async followRevocations(events: EventBus): Promise<void> {
    for await (const id of listen<string>(events, API_KEY_REVOKED)) this.revocations.set(id, { revoked: true, at: Date.now() });
  }

  /** Creates a key; the returned `secret` exists only here and is never stored. */
  async create(scope: Scope, input: CreateApiKey, createdBy: string | null): Promise<{ apiKey: ApiKey; secret: string }> {
    const name = typeof input.name === "string" ? input.name.trim() : "";
    if (name === "" || name.length > MAX_NAME) throw AppError.badInput("input.name", `must be 1 to ${MAX_NAME} characters`);
    if (!isRole(input.role)) throw AppError.badInput("input.role", "must be one of viewer, runner, editor, admin");
    const secret = API_KEY_PREFIX + randomBytes(32).toString("base64url");
    const id = newId();
    const apiKey = await this.database.transaction(async (manager) => {
      await manager.insert(ApiKey, {
        id,
        tenantId: scope.tenantId,
        name,
        role: input.role,
        prefix: secret.slice(0, DISPLAY_LENGTH),
        hash: hashApiKey(secret),
        createdBy,
        revokedAt: null,
        lastUsedAt: null,
      });
      const stored = await manager.findOneByOrFail(ApiKey, { id });
      // Never the hash (nor, of course, the secret): what identifies the key to a person is enough.
      await AuditLog.record(manager, scope, { action: "apiKey.create", entityType: "ApiKey", entityId: id, after: AuditLog.snapshot(stored, AUDITED_FIELDS) });
      return stored;
    });
    return { apiKey, secret };
  }

  get(scope: Scope, id: string): Promise<ApiKey | null> {
    return findInScope(this.database.manager, ApiKey, scope, id);
  }

  list(scope: Scope, includeRevoked: boolean, page: PageArgs): Promise<Page<ApiKey>> {
    const query = this.database.manager.createQueryBuilder(ApiKey, "k").where("k.tenantId = :tenantId", { tenantId: scope.tenantId });
    if (!includeRevoked) query.andWhere("k.revokedAt IS NULL");
    return paginate(query, page);
  }

  /** Revokes at once: the next request with the key is refused. Revoking a revoked key changes nothing. */
  async revoke(scope: Scope, id: string): Promise<ApiKey> {
    const key = await this.get(scope, id);
    if (!key) throw new AppError("NOT_FOUND", `id: API key '${id}' not found`, { path: "id" });
    if (key.revokedAt !== null) return key;
    const revoked = await this.database.transaction(async (manager) => {
      const result = await manager
        .createQueryBuilder()
        .update(ApiKey)
        .set({ revokedAt: new Date() })
        .where("id = :id AND tenantId = :tenantId AND revokedAt IS NULL", { id: key.id, tenantId: scope.tenantId })
        .execute();
      const stored = await manager.findOneByOrFail(ApiKey, { id: key.id });
      // Revoked concurrently by someone else: their revocation is the audited one.
      if (result.affected === 1) {
        await AuditLog.record(manager, scope, { action: "apiKey.revoke", entityType: "ApiKey", entityId: key.id, before: AuditLog.snapshot(key, ["revokedAt"]), after: AuditLog.snapshot(stored, ["revokedAt"]) });
      }
      return stored;
    });
    this.revocations.set(key.id, { revoked: true, at: Date.now() });
    this.events?.publish(API_KEY_REVOKED, key.id);
    return revoked;
  }

  /** The principal a key stands for, or UNAUTHENTICATED. Records the use at most once a minute. */
  async authenticate(secret: string): Promise<Principal> {
    if (!secret.startsWith(API_KEY_PREFIX) || secret.length > 200) throw unauthenticated("unknown API key");
    const key = await this.database.manager.findOneBy(ApiKey, { hash: hashApiKey(secret) });
    if (!key) throw unauthenticated("unknown API key");
    if (key.revokedAt !== null) throw unauthenticated("API key revoked");
    if (!isRole(key.role)) throw unauthenticated("API key has an unknown role");
    const now = new Date();
    if (key.lastUsedAt === null || now.getTime() - key.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
      // Conditional, so that several instances seeing the same stale value write it once.
      const cutoff = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
      // In a transaction like every write: on SQLite's one connection a bare write would join whichever
      // transaction happens to be open.
      await this.database
        .transaction((manager) =>
          manager
            .createQueryBuilder()
            .update(ApiKey)
            .set({ lastUsedAt: now })
            .where("id = :id AND (lastUsedAt IS NULL OR lastUsedAt <= :cutoff)", { id: key.id, cutoff })
            .execute(),
        )
        .catch((error: unknown) => console.error("[auth] could not record API key use:", error instanceof Error ? error.message : error));
    }
    this.revocations.set(key.id, { revoked: false, at: Date.now() });
    return { subject: `api_key:${key.id}`, tenantId: key.tenantId, role: key.role, via: "api_key", apiKeyId: key.id };
  }

  /**
   * Whether a key has been revoked since it was authenticated: asked on every authorized field, so an
   * open subscription stops with its next event. Read from the database at most once per
   * REVOCATION_RECHECK_MS per key; a revocation made by this instance counts at once.
   *
   * With the database unreachable, what this instance last knew holds until it can read again: no key
   * can be revoked meanwhile (a revocation is a write to it), and one revoked just before on another
   * instance arrives as an event. So a database outage does not end every open subscription of every
   * API key. A key this instance never knew is an error then.
   */
  async isRevoked(id: string): Promise<boolean> {
    const known = this.revocations.get(id);
    if (known && (known.revoked || Date.now() - known.at < REVOCATION_RECHECK_MS)) return known.revoked;
    let key: ApiKey | null;
    try {
      key = await this.database.manager.findOne(ApiKey, { select: { id: true, revokedAt: true }, where: { id } });
    } catch (error) {
      if (known) return known.revoked;
      throw error;
    }
    const revoked = !key || key.revokedAt !== null;
    this.revocations.set(id, { revoked, at: Date.now() });
    return revoked;
  }
}

export { Role };
