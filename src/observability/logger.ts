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
const REDACTED_KEYS = new Set(["apiKey", "apiKeyEncrypted", "authorization", "x-api-key", "secret", "password", "inputs", "outputs", "messages", "response"]);
const CENSOR = "[redacted]";

/** The process's one structured logger: JSON lines, ISO times, level names (README: "Operating", "Logs"). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { service: "dspy-subgraph" },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Redaction by a formatter rather than pino's `redact` paths: the same keys (top level and one
      // level down), ~2 µs a line instead of ~13 µs with the wildcard paths (four lines per execution).
      // The serializers cover a child logger's bindings, which pino does not pass to the formatter.
      formatters: { level: (label) => ({ level: label }), log: redact },
      serializers: Object.fromEntries([...REDACTED_KEYS].map((key) => [key, () => CENSOR])),
    },
    options.destination ?? process.stdout,
  );
}

/** `object` with the values of REDACTED_KEYS, at the top level and one level down, replaced; copied only when one is. */
export function redact(object: Record<string, unknown>): Record<string, unknown> {
  let result = object;
  for (const key in object) {
    const value = object[key];
    let replaced: unknown;
    if (REDACTED_KEYS.has(key)) replaced = CENSOR;
    else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      let inner: Record<string, unknown> | undefined;
      for (const innerKey in value) {
        if (!REDACTED_KEYS.has(innerKey)) continue;
        // An error's message and stack are not its own enumerable keys: serialized first, as pino would.
        inner ??= value instanceof Error ? { ...pino.stdSerializers.err(value) } : { ...(value as Record<string, unknown>) };
        inner[innerKey] = CENSOR;
      }
      replaced = inner;
    }
    if (replaced === undefined) continue;
    if (result === object) result = { ...object };
    result[key] = replaced;
  }
  return result;
}
