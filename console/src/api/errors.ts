/** An error as the API reports it: its message and `extensions.code` (README "Errors"), shown as such. */
export class ApiError extends Error {
  readonly code: string;
  readonly layer: string | undefined;
  readonly path: string | undefined;
  readonly retriable: boolean | undefined;

  constructor(code: string, message: string, extra: { layer?: string; path?: string; retriable?: boolean } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.layer = extra.layer;
    this.path = extra.path;
    this.retriable = extra.retriable;
  }

  get unauthenticated(): boolean {
    return this.code === "UNAUTHENTICATED";
  }
}

interface GraphQLErrorShape {
  message?: unknown;
  extensions?: { code?: unknown; layer?: unknown; path?: unknown; retriable?: unknown };
}

/** The first error of a GraphQL answer (each operation here has one root field, so one error says it). */
export function apiErrorFrom(errors: readonly unknown[]): ApiError {
  const first = (errors[0] ?? {}) as GraphQLErrorShape;
  const ext = first.extensions ?? {};
  return new ApiError(typeof ext.code === "string" ? ext.code : "ERROR", typeof first.message === "string" ? first.message : "the API answered with an error", {
    layer: typeof ext.layer === "string" ? ext.layer : undefined,
    path: typeof ext.path === "string" ? ext.path : undefined,
    retriable: typeof ext.retriable === "boolean" ? ext.retriable : undefined,
  });
}

/** Anything thrown, as an ApiError (a network failure, a bug) so every error shows the same way. */
export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError("CLIENT_ERROR", error instanceof Error ? error.message : String(error));
}
