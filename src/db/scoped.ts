import type { EntityManager, EntityTarget, ObjectLiteral } from "typeorm";
import { AppError } from "../errors.js";
import { isId } from "../ids.js";
import type { Scope } from "../scope.js";
import { findRow } from "./findRow.js";

/** The row `id` of the caller's tenant; null for another tenant's row, a missing one or a malformed id. */
export async function findInScope<T extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<T>, scope: Scope, id: string): Promise<T | null> {
  return isId(id) ? findRow(manager, entity, { id, tenantId: scope.tenantId }) : null;
}

/** `findInScope`, or NOT_FOUND at `path`: "<path>: <noun> '<id>' not found". */
export async function requireInScope<T extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<T>, scope: Scope, id: string, path: string, noun: string): Promise<T> {
  const found = await findInScope(manager, entity, scope, id);
  if (!found) throw new AppError("NOT_FOUND", `${path}: ${noun} '${id}' not found`, { path });
  return found;
}
