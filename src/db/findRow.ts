import type { EntityManager, EntityTarget, ObjectLiteral } from "typeorm";
import type { EntityMetadata } from "typeorm/metadata/EntityMetadata.js";

type Where = Record<string, string | number>;

/** Per entity, per set of `where` columns: the SELECT, written once. */
const statements = new WeakMap<EntityMetadata, Map<string, string>>();

/**
 * `manager.findOneBy(entity, where)` for equality on a few columns, without TypeORM's query
 * builder. A findOneBy of an execution costs about 80 µs of CPU here, against 9 µs for the
 * statement itself. The SELECT is written once per entity and set of columns. The row is hydrated
 * column by column with the driver's own conversions (dates, JSON, booleans, transformers), as
 * TypeORM's result transformer does. Relations are not loaded, as with findOneBy.
 */
export async function findRow<T extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<T>, where: Where): Promise<T | null> {
  const metadata = manager.connection.getMetadata(entity);
  const driver = manager.connection.driver;
  const keys = Object.keys(where);
  const rows: Record<string, unknown>[] = await manager.query(statementFor(manager, metadata, keys), keys.map((key) => where[key]));
  if (rows.length === 0) return null;
  const found = metadata.create() as T;
  for (const column of selectedColumns(metadata)) column.setEntityValue(found, driver.prepareHydratedValue(rows[0][column.databaseName], column));
  return found;
}

function selectedColumns(metadata: EntityMetadata) {
  return metadata.columns.filter((column) => !column.isVirtual && column.isSelect);
}

function statementFor(manager: EntityManager, metadata: EntityMetadata, keys: string[]): string {
  let byKeys = statements.get(metadata);
  if (!byKeys) statements.set(metadata, (byKeys = new Map()));
  const cacheKey = keys.join(",");
  let sql = byKeys.get(cacheKey);
  if (!sql) {
    const escape = (name: string) => manager.connection.driver.escape(name);
    const columns = selectedColumns(metadata).map((column) => escape(column.databaseName));
    const conditions = keys.map((key) => {
      const column = metadata.findColumnWithPropertyName(key);
      if (!column) throw new Error(`${metadata.name} has no column '${key}'`);
      return `${escape(column.databaseName)} = ?`;
    });
    sql = `SELECT ${columns.join(", ")} FROM ${escape(metadata.tableName)} WHERE ${conditions.join(" AND ")} LIMIT 1`;
    byKeys.set(cacheKey, sql);
  }
  return sql;
}
