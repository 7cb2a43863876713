/** One LM call of a stored trace (a module entry's `lm_calls` item), as far as it can be trusted. */
export interface TraceLmCall {
  model?: unknown;
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown };
  latency_ms?: unknown;
  error?: unknown;
  /** USD, set when the attempt is priced (executionCost.ts). */
  cost?: number | null;
}

/** Every LM call of a stored trace (module entries' `lm_calls`), whatever else is malformed in it; the objects themselves, not copies. */
export function lmCallsOf(trace: unknown): TraceLmCall[] {
  if (!Array.isArray(trace)) return [];
  return trace.flatMap((entry: unknown) => {
    const calls = (entry as { lm_calls?: unknown } | null)?.lm_calls;
    return Array.isArray(calls) ? calls.filter((call): call is TraceLmCall => typeof call === "object" && call !== null) : [];
  });
}

/** A token count from a trace: a positive finite number, else 0. */
export function tokenCount(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : 0;
}
