import assert from "node:assert/strict";
import { Database } from "../src/db/Database.js";
import { MIGRATIONS } from "../migrations/index.js";
import { createScratchDatabase, databaseTargets } from "./support/harness.js";
import { pendingSchemaChanges } from "./support/schemaDiff.js";

for (const target of databaseTargets()) {
  describe(`migrations [${target.name}]`, function () {
    this.timeout(60_000);

    it("produce exactly the schema the entities declare (no pending change)", async () => {
      const scratch = await createScratchDatabase(target);
      const database = await Database.open({ databaseUrl: scratch.databaseUrl, sqlitePath: ":memory:" });
      try {
        assert.deepEqual(await pendingSchemaChanges(database), []);
        const tables = await database.dataSource.createQueryRunner().getTables(["language_model", "program", "program_version", "dataset", "example"]);
        assert.equal(tables.length, 5);
      } finally {
        await database.close();
        await scratch.drop();
      }
    });

    it("run once: reopening an existing database applies nothing and keeps the data", async () => {
      const scratch = await createScratchDatabase(target);
      const sqlitePath = `.test-data/migrations-${process.pid}-${Date.now()}.sqlite`;
      try {
        const first = await Database.open({ databaseUrl: scratch.databaseUrl, sqlitePath });
        await first.dataSource.query("INSERT INTO dataset (id, tenantId, version, name) VALUES ('00000000-0000-7000-8000-000000000001', 't', 1, 'kept')");
        await first.close();
        const second = await Database.open({ databaseUrl: scratch.databaseUrl, sqlitePath });
        const applied = (await second.dataSource.query("SELECT name FROM migrations")) as { name: string }[];
        assert.deepEqual(applied.map((m) => m.name), MIGRATIONS.map((m) => new m().name));
        const rows = (await second.dataSource.query("SELECT name FROM dataset")) as { name: string }[];
        assert.deepEqual(rows.map((r) => r.name), ["kept"]);
        await second.close();
      } finally {
        await scratch.drop();
        const fs = await import("node:fs");
        for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(sqlitePath + suffix, { force: true });
      }
    });
  });
}
