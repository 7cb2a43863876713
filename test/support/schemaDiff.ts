import type { Database } from "../../src/db/Database.js";

/** The SQL TypeORM's schema builder would run to make the database match the entities. */
export async function pendingSchemaChanges(database: Database): Promise<string[]> {
  const sql = await database.dataSource.driver.createSchemaBuilder().log();
  return sql.upQueries.map((query) => query.query);
}
