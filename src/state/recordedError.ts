import type { ExecutionError } from "../../entities/index.js";
import { AppError } from "../errors.js";

/**
 * The error a failed execution, evaluation or optimization records: an AppError keeps its code,
 * layer and details; anything else is a bug, logged here and recorded without its internals.
 */
export function recordedError(cause: unknown, what: "execution" | "evaluation" | "optimization"): ExecutionError {
  if (cause instanceof AppError) return { code: String(cause.code), layer: cause.layer, message: cause.message, retriable: cause.retriable, details: cause.details ?? null };
  console.error(`[${what}] unexpected error`, cause);
  return { code: "INTERNAL_ERROR", layer: "worker", message: `the ${what} failed with an internal error`, retriable: false, details: null };
}
