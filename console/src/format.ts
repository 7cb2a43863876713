/** How times, durations and numbers read in tables: short, local, and the same everywhere. */

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? date.toLocaleTimeString() : date.toLocaleString();
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`;
}

/** From `start` to `end`, or to now while it runs. */
export function formatSpan(start: string | null | undefined, end: string | null | undefined): string {
  if (!start) return "—";
  return formatMs((end ? Date.parse(end) : Date.now()) - Date.parse(start));
}

export function formatScore(score: number | null | undefined): string {
  return score === null || score === undefined ? "—" : score.toFixed(score % 1 === 0 ? 0 : 2);
}

export function formatUsd(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return "—";
  return usd === 0 ? "$0" : usd < 0.01 ? `$${usd.toPrecision(2)}` : `$${usd.toFixed(2)}`;
}

export function shortId(id: string): string {
  return id.length > 8 ? id.slice(-8) : id;
}

/** `plural(1, "LM call")` → "1 LM call", `plural(3, "LM call")` → "3 LM calls". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
