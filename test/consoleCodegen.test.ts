import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * The console's committed schema (console/schema.graphql) and operation types
 * (console/src/generated/graphql.ts) are what `npm run console:codegen` makes of the server's
 * schema now: regenerated into a temporary folder and compared, so a schema change the console has
 * not been regenerated (and type-checked) against fails here.
 */
const SCRIPT = new URL("../../scripts/console-codegen.mjs", import.meta.url).href;

interface ConsoleCodegen {
  COMMITTED: { schema: string; types: string };
  writeConsoleCodegen(dir?: string): Promise<{ schema: string; types: string }>;
}

describe("console codegen: the committed schema and operation types are up to date", function () {
  this.timeout(60_000);
  let dir: string;
  let codegen: ConsoleCodegen;
  let fresh: { schema: string; types: string };

  before(async () => {
    codegen = (await import(SCRIPT)) as ConsoleCodegen;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "console-codegen-"));
    fresh = await codegen.writeConsoleCodegen(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const stale = (file: string) => `${path.relative(process.cwd(), file)} is out of date: run \`npm run console:codegen\` and commit the result`;

  it("console/schema.graphql is the server's schema", () => {
    assert.ok(fs.readFileSync(fresh.schema, "utf8") === fs.readFileSync(codegen.COMMITTED.schema, "utf8"), stale(codegen.COMMITTED.schema));
  });

  it("console/src/generated/graphql.ts is generated from it and console/src/operations/*.graphql", () => {
    assert.ok(fs.readFileSync(fresh.types, "utf8") === fs.readFileSync(codegen.COMMITTED.types, "utf8"), stale(codegen.COMMITTED.types));
  });
});
