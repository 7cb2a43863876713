import "reflect-metadata";
import fs from "node:fs";
import { type Config, loadConfig } from "./config.js";
import { redactMongoUrl } from "./jobs/createJobBackend.js";
import { startServer } from "./server.js";

async function main(): Promise<void> {
  const config = loadConfig();
  const server = await startServer(config);
  const { logger } = server.observability;
  const database = config.databaseUrl ? "MySQL" : `embedded SQLite in ${config.dataDir}`;
  // The job store actually opened (SQL: the database above; MongoDB: MONGO_URL), never the URL with its credentials.
  const jobStore = server.jobStore === "SQL" ? `SQL (the ${config.databaseUrl ? "MySQL" : "SQLite"} database)` : `${server.jobStore}${config.mongoUrl ? ` (${redactMongoUrl(config.mongoUrl)})` : ""}`;
  const pool = `${config.workers.count} local workers${config.workers.bind ? `, remote ones on ${config.workers.bind}` : ""}`;
  const adapter = config.adapter === "in-process" ? "in-process" : config.adapter === "python" ? `python (${pool})` : `${config.adapter} (native in Node where it can, else python: ${pool})`;
  logger.info({ auth: authSummary(config).replace(/^auth: /, "") }, "authentication");
  if (config.auth.devMode) fs.writeSync(2, devModeWarning(config));
  logger.info(
    { url: server.url, wsUrl: server.wsUrl, database, jobStore, adapter, logLevel: config.logLevel, cors: config.corsOrigins ?? "off" },
    `dspy-subgraph listening on ${server.url} (graphql-ws on ${server.wsUrl}); database: ${database}; job store: ${jobStore}; adapter: ${adapter}`,
  );
  let signals = 0;
  const shutdown = (signal: string) => {
    if (++signals > 1) process.exit(1);
    logger.info({ signal }, "shutting down");
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

function authSummary(config: Config): string {
  if (config.auth.devMode) return "auth: DEVELOPMENT MODE (no authentication)";
  const jwt = config.auth.jwt;
  const tokens = jwt ? `bearer JWTs (${jwt.secret !== undefined ? "HS256 secret" : `JWKS ${jwt.jwks}`}, issuer ${jwt.issuer}, audience ${jwt.audience}) and ` : "";
  const mint = jwt ? "" : " (mint the first admin key with: npm run apikey:create -- --tenant <tenant> --role admin)";
  return `auth: ${tokens}API keys (X-API-Key)${mint}; requests without credentials are UNAUTHENTICATED`;
}

/** Printed to stderr at every start in development mode, so nobody runs it by accident. */
function devModeWarning(config: Config): string {
  const exposed = config.host === "127.0.0.1" || config.host === "localhost" || config.host === "::1" ? "" : `\n!!  It listens on ${config.host}: anyone who can reach port ${config.port} is an admin.`;
  const line = "!".repeat(78);
  return [
    "",
    line,
    "!!  AUTH_DEV_MODE=1: AUTHENTICATION IS OFF.",
    `!!  Every request, with or without credentials, acts as ADMIN of tenant '${config.defaultTenant}'.${exposed}`,
    "!!  For development only. Configure AUTH_JWT_SECRET or AUTH_JWKS (with AUTH_ISSUER and",
    "!!  AUTH_AUDIENCE), or API keys, and unset AUTH_DEV_MODE before exposing this server.",
    line,
    "",
    "",
  ].join("\n");
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  fs.writeSync(2, `dspy-subgraph failed to start: ${message}\n`);
  process.exit(1);
});
