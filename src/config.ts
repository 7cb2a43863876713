import path from "node:path";
import { AppError } from "./errors.js";

/** Everything the process reads from its environment, in one place (README: "Configuration"). */
export interface Config {
  port: number;
  host: string;
  /** `mysql://user:pass@host:port/db`, or undefined for the embedded SQLite file. */
  databaseUrl?: string;
  /** Folder for the embedded SQLite database. */
  dataDir: string;
  /** Tenant used for every request until authentication exists. */
  defaultTenant: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = env.PORT === undefined || env.PORT === "" ? 4001 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new AppError("BAD_CONFIG", `PORT must be an integer between 0 and 65535, got '${env.PORT}'`);
  }
  const databaseUrl = env.DATABASE_URL === "" ? undefined : env.DATABASE_URL;
  if (databaseUrl !== undefined && !/^mysql:\/\//.test(databaseUrl)) {
    throw new AppError("BAD_CONFIG", "DATABASE_URL must look like mysql://user:pass@host:port/db (leave it unset for the embedded SQLite file)");
  }
  return {
    port,
    host: env.HOST ?? "0.0.0.0",
    databaseUrl,
    dataDir: path.resolve(env.DATA_DIR ?? "data"),
    defaultTenant: env.DEFAULT_TENANT ?? "default",
  };
}
