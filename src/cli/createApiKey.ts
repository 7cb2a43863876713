import "reflect-metadata";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { ApiKeyService } from "../auth/ApiKeyService.js";
import { isRole } from "../auth/roles.js";
import { loadConfig } from "../config.js";
import { Database } from "../db/Database.js";

/**
 * Mints an API key straight in the database (the same one the server uses: DATABASE_URL or the
 * embedded SQLite file), for the first admin key of a deployment without JWTs:
 *   npm run apikey:create -- --tenant acme --role admin --name "ops bootstrap"
 * Prints the key once, on stdout; later keys are better minted with the createApiKey mutation.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { tenant: { type: "string" }, role: { type: "string", default: "admin" }, name: { type: "string", default: "bootstrap" } } });
  const config = loadConfig();
  const tenantId = values.tenant ?? config.defaultTenant;
  if (tenantId === "" || tenantId.length > 64) throw new Error("--tenant must be 1 to 64 characters");
  if (!isRole(values.role)) throw new Error(`--role must be viewer, runner, editor or admin, got '${values.role}'`);
  const database = await Database.open({ databaseUrl: config.databaseUrl, sqlitePath: path.join(config.dataDir, "subgraph.sqlite") });
  try {
    const { apiKey, secret } = await new ApiKeyService(database).create({ tenantId, actor: { subject: "cli", via: "system" } }, { name: values.name ?? "bootstrap", role: values.role }, "cli");
    fs.writeSync(2, `API key '${apiKey.name}' (id ${apiKey.id}, role ${apiKey.role}, tenant ${tenantId}). It is shown this once; send it as the X-API-Key header:\n`);
    fs.writeSync(1, `${secret}\n`);
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  fs.writeSync(2, `apikey:create failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
