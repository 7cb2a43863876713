import { GraphQLError } from "graphql";
import { isUnavailable } from "./db/dialect.js";

/** Where a failure happened (DESIGN.md, "Errors"). */
export type ErrorLayer = "validation" | "transport" | "protocol" | "worker" | "dspy" | "lm" | "storage" | "scheduler";

export type ErrorCode =
  | "BAD_USER_INPUT"
  | "NOT_FOUND"
  | "CONFLICT"
  | "INTERNAL_SERVER_ERROR"
  | (string & {});

export interface IssueDetail {
  path: string;
  reason: string;
}

export interface AppErrorOptions {
  layer?: ErrorLayer;
  retriable?: boolean;
  /** Where in the input the problem is, e.g. "input.definition.forward[0].call". */
  path?: string;
  /** Every problem found, when there are several. */
  issues?: IssueDetail[];
  details?: Record<string, unknown>;
  /** Extra GraphQL `extensions` a client may act on (e.g. RATE_LIMITED's `retryAfterMs`). */
  extensions?: Record<string, unknown>;
}

/** The one error type of the product: every failure carries { code, layer, message, retriable }. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly layer: ErrorLayer;
  readonly retriable: boolean;
  readonly path?: string;
  readonly issues?: IssueDetail[];
  readonly details?: Record<string, unknown>;
  readonly extensions?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.layer = options.layer ?? "validation";
    this.retriable = options.retriable ?? false;
    this.path = options.path;
    this.issues = options.issues;
    this.details = options.details;
    this.extensions = options.extensions;
  }

  static badInput(path: string, reason: string, issues?: IssueDetail[]): AppError {
    return new AppError("BAD_USER_INPUT", `${path}: ${reason}`, { path, issues: issues ?? [{ path, reason }] });
  }

  /** A subscriber dropped for reading too slowly: `waiting` says what piled up for it, `kept` what it can still find. */
  static slowSubscriber(waiting: string, kept?: string): AppError {
    return new AppError("SLOW_SUBSCRIBER", `the subscriber read too slowly: more than ${waiting} were waiting for it; subscribe again${kept ? ` (${kept})` : ""}`, { layer: "transport" });
  }

  /** Several issues: the message names the first, `issues` lists them all. */
  static fromIssues(issues: IssueDetail[]): AppError {
    const [first] = issues;
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
    return new AppError("BAD_USER_INPUT", `${first.path}: ${first.reason}${more}`, { path: first.path, issues });
  }

  static notFound(entity: string, id: string): AppError {
    return new AppError("NOT_FOUND", `${entity} '${id}' not found`, { path: undefined });
  }

  static conflict(message: string, path?: string): AppError {
    return new AppError("CONFLICT", message, { path });
  }

  toGraphQLExtensions(): Record<string, unknown> {
    const extensions: Record<string, unknown> = { ...this.extensions, code: this.code, layer: this.layer, retriable: this.retriable };
    if (this.path !== undefined) extensions.path = this.path;
    if (this.issues !== undefined) extensions.issues = this.issues;
    return extensions;
  }
}

type FormattedError = {
  message: string;
  extensions?: Record<string, unknown>;
  path?: readonly (string | number)[];
  locations?: readonly { line: number; column: number }[];
};

/**
 * Shapes every error that leaves the API: AppErrors keep their code and message; errors that
 * graphql-js raised itself (parse, validation, variable coercion) pass through; anything else
 * (a driver error, a bug) becomes a generic internal error, so no SQL text or stack trace
 * reaches a client.
 */
export function formatGraphQLError(formatted: FormattedError, error: unknown): FormattedError {
  const original = originalOf(error);
  const { path, locations } = formatted;
  if (original instanceof AppError) {
    return { message: original.message, path, locations, extensions: original.toGraphQLExtensions() };
  }
  if (original instanceof GraphQLError) {
    // graphql-js's own (parse, validation, variable coercion) and the limits': the request's fault.
    const { http: _http, stacktrace: _stacktrace, exception: _exception, ...rest } = original.extensions as Record<string, unknown>;
    const code = typeof rest.code === "string" ? rest.code : formatted.extensions?.code;
    return {
      message: original.message,
      path,
      locations,
      extensions: { ...rest, code: typeof code === "string" ? code : "BAD_USER_INPUT", layer: typeof rest.layer === "string" ? rest.layer : "validation", retriable: rest.retriable === true },
    };
  }
  // graphql-js parses recursively: a document nested a few thousand levels deep exhausts the stack, and
  // the parse failure (Apollo's, or checkSubscribe's) wraps that RangeError. The input is at fault.
  if (original instanceof RangeError && formatted.extensions?.code === "GRAPHQL_PARSE_FAILED") {
    return { message: "Syntax Error: the document is nested too deeply to parse", extensions: { code: "GRAPHQL_PARSE_FAILED", layer: "validation", retriable: false } };
  }
  if (isUnavailable(original)) {
    logInternal(error);
    return { message: "the database is unavailable right now; try again shortly", path, extensions: { code: "UNAVAILABLE", layer: "storage", retriable: true } };
  }
  logInternal(error);
  return { message: "Internal server error", path, extensions: { code: "INTERNAL_SERVER_ERROR", layer: "storage", retriable: false } };
}

function originalOf(error: unknown): unknown {
  let current = error;
  while (current instanceof GraphQLError && current.originalError) current = current.originalError;
  return current;
}

function logInternal(error: unknown): void {
  if (process.env.LOG_INTERNAL_ERRORS !== "0") console.error("[internal error]", error);
}
