import "reflect-metadata";
import fs from "node:fs";
import { loadConfig } from "./config.js";
import { startServer } from "./server.js";

async function main(): Promise<void> {
  const config = loadConfig();
  const server = await startServer(config);
  const store = config.databaseUrl ? "MySQL" : `embedded SQLite in ${config.dataDir}`;
  console.log(`dspy-subgraph listening on ${server.url} (graphql-ws on ${server.wsUrl}); store: ${store}`);
  let signals = 0;
  const shutdown = (signal: string) => {
    if (++signals > 1) process.exit(1);
    console.log(`${signal}: shutting down`);
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        // Written synchronously: process.exit does not wait for a piped stderr.
        fs.writeSync(2, `dspy-subgraph failed to stop cleanly: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  fs.writeSync(2, `dspy-subgraph failed to start: ${message}\n`);
  process.exit(1);
});
