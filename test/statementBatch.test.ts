import "reflect-metadata";
import assert from "node:assert/strict";
import type { Logger } from "typeorm";
import { AuditEvent } from "../entities/index.js";
import { Database } from "../src/db/Database.js";
import { isUniqueViolation } from "../src/db/dialect.js";
import { insertRow, updateRows } from "../src/db/rows.js";
import { newId } from "../src/ids.js";
import { createScratchDatabase, databaseTargets } from "./support/harness.js";

/** MySQL transactions send the statements nobody reads with the next one that is read (src/db/StatementBatch.ts). */
for (const target of databaseTargets().filter((t) => t.name === "mariadb")) {
  describe(`StatementBatch on ${target.name}`, () => {
    let database: Database;
    let drop: () => Promise<void>;
    /** The queries sent to the server, one per round trip. */
    let sent: string[];

    before(async () => {
      const scratch = await createScratchDatabase(target);
      drop = scratch.drop;
      database = await Database.open({ databaseUrl: scratch.databaseUrl, sqlitePath: ":memory:" });
      const quiet = () => undefined;
      database.dataSource.logger = { logQuery: (query: string) => void sent.push(query), logQueryError: quiet, logQuerySlow: quiet, logSchemaBuild: quiet, logMigration: quiet, log: quiet } as Logger;
    });
    beforeEach(() => (sent = []));
    after(async () => {
      await database?.close();
      await drop?.();
    });

    const event = (id = newId()): Partial<AuditEvent> & { id: string } =>
      ({ id, tenantId: "t-batch", actorSubject: "s", actorVia: "dev", actorApiKeyId: null, action: "test.batch", entityType: "Test", entityId: id, changes: { a: { after: "it's \"quoted\"; DROP TABLE x" } }, requestId: null, at: new Date() });
    const count = async (ids: string[]) => Number((await database.manager.query("SELECT COUNT(*) AS n FROM audit_event WHERE id IN (?)", [ids]))[0].n);

    it("sends a transaction of inserts and its COMMIT as one query, and writes every row as given", async () => {
      const rows = [event(), event(), event()];
      await database.transaction(async (manager) => {
        for (const row of rows) await insertRow(manager, AuditEvent, row);
      });
      assert.equal(sent.length, 1, sent.join("\n---\n"));
      assert.match(sent[0], /^START TRANSACTION;\nINSERT .*;\nINSERT .*;\nINSERT .*;\nCOMMIT$/s);
      assert.equal(await count(rows.map((r) => r.id)), 3);
      const stored = await database.manager.findOneByOrFail(AuditEvent, { id: rows[0].id });
      assert.deepEqual(stored.changes, rows[0].changes, "a value with quotes and a semicolon is stored as it was");
    });

    it("sends the held inserts before a statement whose result is read, which sees them", async () => {
      const row = event();
      const changed = await database.transaction(async (manager) => {
        await insertRow(manager, AuditEvent, row);
        return updateRows(manager, AuditEvent, { action: "test.updated" }, { id: row.id });
      });
      assert.equal(changed, 1, "the update found the row inserted just before it");
      assert.equal(sent.length, 2, sent.join("\n---\n"));
      assert.match(sent[0], /^START TRANSACTION;\nINSERT .*;\nUPDATE /s);
      assert.equal(sent[1], "COMMIT");
      assert.equal((await database.manager.findOneByOrFail(AuditEvent, { id: row.id })).action, "test.updated");
    });

    it("fails the transaction with the driver's error when a held insert fails, and writes none of it", async () => {
      const existing = event();
      await database.transaction((manager) => insertRow(manager, AuditEvent, existing));
      const fresh = event();
      await assert.rejects(
        database.transaction(async (manager) => {
          await insertRow(manager, AuditEvent, fresh);
          await insertRow(manager, AuditEvent, { ...existing });
        }),
        (error: unknown) => isUniqueViolation(error),
      );
      assert.equal(sent.at(-1), "ROLLBACK");
      assert.equal(await count([fresh.id]), 0, "the insert before the failing one was rolled back");
    });

    it("sends nothing for a transaction that fails before anything was sent", async () => {
      await assert.rejects(
        database.transaction(async (manager) => {
          await insertRow(manager, AuditEvent, event());
          throw new Error("changed its mind");
        }),
        /changed its mind/,
      );
      assert.deepEqual(sent, []);
    });
  });
}
