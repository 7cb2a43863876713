import { AuditEvent } from "../../entities/index.js";
import type { Database } from "../db/Database.js";
import { AppError } from "../errors.js";
import { type Page, type PageArgs, paginate } from "../pagination.js";
import type { Scope } from "../scope.js";

export interface AuditEventFilter {
  entityType?: string | null;
  entityId?: string | null;
  action?: string | null;
  /** The actor's subject, e.g. a token's `sub` or `api_key:<id>`. */
  actor?: string | null;
  since?: Date | null;
  until?: Date | null;
}

/** Reads the audit trail (AuditLog writes it). There is deliberately no way to change or delete an event. */
export class AuditTrail {
  constructor(private readonly database: Database) {}

  /** The tenant's events matching `filter`, oldest first; `since` inclusive, `until` exclusive. */
  list(scope: Scope, filter: AuditEventFilter | null | undefined, page: PageArgs): Promise<Page<AuditEvent>> {
    const query = this.database.manager.createQueryBuilder(AuditEvent, "a").where("a.tenantId = :tenantId", { tenantId: scope.tenantId });
    if (filter?.entityType) query.andWhere("a.entityType = :entityType", { entityType: filter.entityType });
    if (filter?.entityId) query.andWhere("a.entityId = :entityId", { entityId: filter.entityId });
    if (filter?.action) query.andWhere("a.action = :action", { action: filter.action });
    if (filter?.actor) query.andWhere("a.actorSubject = :actor", { actor: filter.actor });
    for (const [name, value] of [["since", filter?.since], ["until", filter?.until]] as const) {
      if (value != null && Number.isNaN(value.getTime())) throw AppError.badInput(`filter.${name}`, "is not a valid date-time");
    }
    if (filter?.since) query.andWhere("a.at >= :since", { since: filter.since });
    if (filter?.until) query.andWhere("a.at < :until", { until: filter.until });
    return paginate(query, page);
  }
}
