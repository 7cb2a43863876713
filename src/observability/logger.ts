import pino, { type DestinationStream, type Level, type Logger } from "pino";

export type { Logger } from "pino";

/** The levels LOG_LEVEL accepts, quietest last. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = Level | "silent";

export interface LoggerOptions {
  level?: LogLevel;
  /**
   * Where lines go; default process.stdout. Taken as a stream (not pino's own fd writer) so that
   * whoever replaces process.stdout.write (tests that search every output for a secret) sees them.
   */
  destination?: DestinationStream;
}

/**
 * Keys whose values never reach a log line, wherever a caller put them by mistake: credentials and
 * what users send to or get from a program. The listeners never log these; this is the second lock.
 */
const REDACTED_KEYS = ["apiKey", "apiKeyEncrypted", "authorization", "x-api-key", "secret", "password", "inputs", "outputs", "messages", "response"];

/** The process's one structured logger: JSON lines, ISO times, level names (README: "Operating", "Logs"). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { service: "dspy-subgraph" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_KEYS.flatMap(redactPaths), censor: "[redacted]" },
    },
    options.destination ?? process.stdout,
  );
}

/** The key at the top level and one level down, in pino's path syntax (brackets for names with dashes). */
function redactPaths(key: string): string[] {
  return /^\w+$/.test(key) ? [key, `*.${key}`] : [`["${key}"]`, `*["${key}"]`];
}
