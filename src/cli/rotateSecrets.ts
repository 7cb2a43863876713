import "reflect-metadata";
import fs from "node:fs";
import path from "node:path";
import { loadConfig } from "../config.js";
import { Database } from "../db/Database.js";
import { rotateSecrets } from "../secrets/rotate.js";

/**
 * Re-encrypts every stored API key with SECRETS_KEY (README: "Secrets"):
 *   SECRETS_KEY=<new> SECRETS_KEY_PREVIOUS=<old> npm run secrets:rotate
 * on the database the server uses (DATABASE_URL or the embedded SQLite file). Exits 1 when some
 * key could not be decrypted with any key given: those rows are named, and the old key is still needed.
 */
async function main(): Promise<number> {
  const config = loadConfig();
  const database = await Database.open({ databaseUrl: config.databaseUrl, sqlitePath: path.join(config.dataDir, "subgraph.sqlite") });
  try {
    const report = await rotateSecrets(database, config.secrets);
    fs.writeSync(2, `secrets:rotate: ${report.total} stored secrets, ${report.rotated} re-encrypted, ${report.current} already under the current key, ${report.failed.length} unreadable\n`);
    if (report.failed.length > 0) {
      fs.writeSync(2, `unreadable (language model ids): ${report.failed.join(", ")}; keep the key they were written with in SECRETS_KEY_PREVIOUS\n`);
      return 1;
    }
    fs.writeSync(1, `${JSON.stringify(report)}\n`);
    return 0;
  } finally {
    await database.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    fs.writeSync(2, `secrets:rotate failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
