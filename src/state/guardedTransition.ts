import type { EntityManager, EntityTarget, ObjectLiteral } from "typeorm";
import { updateRows } from "../db/rows.js";

/**
 * The one mechanism behind the state machines of executions and evaluations: a table of legal
 * transitions, and an update applied only if the row is still exactly as the caller saw it (same
 * status, same version), so of two racing transitions exactly one wins.
 */
export type LegalTransitions<S extends string> = Readonly<Record<S, readonly S[]>>;

export function isLegal<S extends string>(table: LegalTransitions<S>, from: S, to: S): boolean {
  return table[from].includes(to);
}

/** What a guarded update needs to know of the row as the caller last saw it. */
export interface SeenRow<S extends string> {
  id: string;
  version: number;
  status: S;
}

/**
 * Writes `changes` if the row is still at `seen.version` and `seen.status`; true when it was. The
 * version column advances by itself on update (TypeORM): the lock the next transition checks.
 */
export async function updateIfUnchanged<E extends ObjectLiteral, S extends string>(
  manager: EntityManager,
  entity: EntityTarget<E>,
  seen: SeenRow<S>,
  changes: Partial<E>,
): Promise<boolean> {
  return (await updateRows(manager, entity, changes, { id: seen.id, version: seen.version, status: seen.status })) === 1;
}
