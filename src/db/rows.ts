import type { EntityManager, EntityTarget, ObjectLiteral, QueryDeepPartialEntity } from "typeorm";

/** TypeORM's insert/update typings reject `unknown` JSON columns; the values are checked before they get here. */
export function row<T>(values: Partial<T>): QueryDeepPartialEntity<T> {
  return values as QueryDeepPartialEntity<T>;
}

/**
 * INSERT without the SELECT that TypeORM adds to read generated columns back (created/updated
 * dates, version): for rows whose every column the caller has set.
 */
export async function insertRow<T extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<T>, values: Partial<T>): Promise<void> {
  await manager.createQueryBuilder().insert().into(entity).values(row(values)).updateEntity(false).execute();
}

/**
 * Optimistic locking: applies `changes` only if the row is still at `version` (which then advances).
 * Returns false when another writer got there first.
 */
export async function updateAtVersion<T extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<T>, id: string, version: number, changes: Partial<T>): Promise<boolean> {
  const result = await manager.createQueryBuilder().update(entity).set(row(changes)).where("id = :id AND version = :version", { id, version }).execute();
  return result.affected === 1;
}
