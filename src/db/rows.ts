import type { EntityManager, EntityTarget, ObjectLiteral, QueryDeepPartialEntity } from "typeorm";
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata.js";
import type { EntityMetadata } from "typeorm/metadata/EntityMetadata.js";
import { isUniqueViolation } from "./dialect.js";
import { StatementBatch } from "./StatementBatch.js";

/** TypeORM's insert/update typings reject `unknown` JSON columns; the values are checked before they get here. */
export function row<T>(values: Partial<T>): QueryDeepPartialEntity<T> {
  return values as QueryDeepPartialEntity<T>;
}

/**
 * A write that updates a row by its unique key or inserts it when there is none (an upsert read
 * first): when another writer inserted the same key between the read and the insert, the unique
 * index refuses ours, and the write runs once more, now finding that row and updating it.
 */
export async function upsertOnce<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    return write();
  }
}

/**
 * INSERT of rows whose columns the caller sets, written once per entity and set of columns and run as
 * plain SQL: TypeORM's insert builder costs ~150 µs of CPU per row here against ~15 µs for the
 * statement (an execution's hot path writes several rows). Values go through the driver's own
 * conversions (dates, JSON, booleans, transformers), as the builder's do; an absent version is 1 and
 * absent creation/update dates are now, as TypeORM fills them. Nothing is read back.
 */
export async function insertRow<T extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<T>, values: Partial<T>): Promise<void> {
  await insertRows(manager, entity, [values]);
}

/** Several rows of one entity with the same columns, in one INSERT. */
export async function insertRows<T extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<T>, rows: Partial<T>[]): Promise<void> {
  if (rows.length === 0) return;
  const metadata = manager.connection.getMetadata(entity);
  const now = new Date();
  const filled = rows.map((values) => withDefaults(metadata, values, now));
  const keys = Object.keys(filled[0]);
  if (filled.some((values) => Object.keys(values).join() !== keys.join())) {
    for (const values of rows) await insertRows(manager, entity, [values]);
    return;
  }
  const columns = columnsOf(metadata, keys);
  const driver = manager.connection.driver;
  const sql = cached(inserts, metadata, `${keys.join()}#${rows.length}`, () => {
    const names = columns.map((column) => driver.escape(column.databaseName)).join(", ");
    const placeholders = `(${columns.map(() => "?").join(", ")})`;
    return `INSERT INTO ${driver.escape(metadata.tableName)} (${names}) VALUES ${Array(rows.length).fill(placeholders).join(", ")}`;
  });
  const parameters = filled.flatMap((values) => columns.map((column, i) => driver.preparePersistentValue(values[keys[i]], column)));
  await writeUnread(manager, sql, parameters);
}

/**
 * UPDATE … SET `changes` WHERE each `where` column equals its value, as plain SQL written once per
 * entity and set of columns; resolves with the number of rows changed. As TypeORM's update builder,
 * it advances the version column and sets the update date unless `changes` sets them.
 */
export async function updateRows<T extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<T>, changes: Partial<T>, where: Record<string, string | number>): Promise<number> {
  const metadata = manager.connection.getMetadata(entity);
  const driver = manager.connection.driver;
  const values: Record<string, unknown> = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
  const updateDate = metadata.updateDateColumn?.propertyName;
  if (updateDate && !(updateDate in values)) values[updateDate] = new Date();
  const keys = Object.keys(values);
  const whereKeys = Object.keys(where);
  const columns = columnsOf(metadata, keys);
  const conditions = columnsOf(metadata, whereKeys);
  const version = metadata.versionColumn;
  const bumpVersion = version !== undefined && !keys.includes(version.propertyName);
  const sql = cached(updates, metadata, `${keys.join()}|${whereKeys.join()}`, () => {
    const sets = columns.map((column) => `${driver.escape(column.databaseName)} = ?`);
    if (bumpVersion) sets.push(`${driver.escape(version.databaseName)} = ${driver.escape(version.databaseName)} + 1`);
    const filters = conditions.map((column) => `${driver.escape(column.databaseName)} = ?`);
    return `UPDATE ${driver.escape(metadata.tableName)} SET ${sets.join(", ")} WHERE ${filters.join(" AND ")}`;
  });
  const parameters = [
    ...columns.map((column, i) => driver.preparePersistentValue(values[keys[i]], column)),
    ...conditions.map((column, i) => driver.preparePersistentValue(where[whereKeys[i]], column)),
  ];
  return affected(manager, sql, parameters);
}

/**
 * Optimistic locking: applies `changes` only if the row is still at `version` (which then advances).
 * Returns false when another writer got there first.
 */
export async function updateAtVersion<T extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<T>, id: string, version: number, changes: Partial<T>): Promise<boolean> {
  return (await updateRows(manager, entity, changes, { id, version })) === 1;
}

/**
 * DELETE of the rows where each `where` column equals its value (how many went is not read).
 */
export async function removeRows<T extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<T>, where: Record<string, string | number>): Promise<void> {
  const metadata = manager.connection.getMetadata(entity);
  const driver = manager.connection.driver;
  const keys = Object.keys(where);
  const conditions = columnsOf(metadata, keys);
  const sql = cached(deletes, metadata, keys.join(), () => `DELETE FROM ${driver.escape(metadata.tableName)} WHERE ${conditions.map((column) => `${driver.escape(column.databaseName)} = ?`).join(" AND ")}`);
  await writeUnread(manager, sql, conditions.map((column, i) => driver.preparePersistentValue(where[keys[i]], column)));
}

/** A write whose result nobody reads: in a MySQL transaction it goes with the next statement that is read (StatementBatch). */
async function writeUnread(manager: EntityManager, sql: string, parameters: unknown[]): Promise<void> {
  const batch = StatementBatch.of(manager.queryRunner);
  if (batch) await batch.defer(sql, parameters);
  else await manager.query(sql, parameters);
}

const inserts = new WeakMap<EntityMetadata, Map<string, string>>();
const updates = new WeakMap<EntityMetadata, Map<string, string>>();
const deletes = new WeakMap<EntityMetadata, Map<string, string>>();

function cached(statements: WeakMap<EntityMetadata, Map<string, string>>, metadata: EntityMetadata, key: string, write: () => string): string {
  let byKey = statements.get(metadata);
  if (!byKey) statements.set(metadata, (byKey = new Map()));
  let sql = byKey.get(key);
  if (sql === undefined) byKey.set(key, (sql = write()));
  return sql;
}

function columnsOf(metadata: EntityMetadata, keys: string[]): ColumnMetadata[] {
  return keys.map((key) => {
    const column = metadata.findColumnWithPropertyName(key);
    if (!column) throw new Error(`${metadata.name} has no column '${key}'`);
    return column;
  });
}

/** The values without undefined ones, and with what TypeORM fills in on insert: version 1, creation and update dates now. */
function withDefaults(metadata: EntityMetadata, values: Record<string, unknown>, now: Date): Record<string, unknown> {
  const filled: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) if (value !== undefined) filled[key] = value;
  if (metadata.versionColumn && filled[metadata.versionColumn.propertyName] === undefined) filled[metadata.versionColumn.propertyName] = 1;
  for (const column of [metadata.createDateColumn, metadata.updateDateColumn]) {
    if (column && filled[column.propertyName] === undefined) filled[column.propertyName] = now;
  }
  return filled;
}

/** Runs a write and returns the rows it changed (the driver's structured result; both dialects fill `affected`). */
async function affected(manager: EntityManager, sql: string, parameters: unknown[]): Promise<number> {
  const runner = manager.queryRunner ?? manager.connection.createQueryRunner();
  try {
    return (await runner.query(sql, parameters, true)).affected ?? 0;
  } finally {
    if (!manager.queryRunner) await runner.release();
  }
}
