/** Small helpers shared by the benchmarks: percentiles, interleaved rounds and a fixed-width table. */
export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  const index = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[index];
}

export interface Latency {
  p50: number;
  p99: number;
  n: number;
}

export function latencyOf(samplesMs: number[]): Latency {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: sorted.length };
}

/** Runs `once` sequentially `n` times (after `warmup` untimed runs); the time of each in ms. */
export async function sequentialSamples(n: number, warmup: number, once: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await once();
    samples.push(performance.now() - started);
  }
  return samples;
}

/** Runs `once` sequentially `n` times (after `warmup` runs) and returns latency percentiles in ms. */
export async function sequential(n: number, warmup: number, once: () => Promise<unknown>): Promise<Latency> {
  return latencyOf(await sequentialSamples(n, warmup, once));
}

export interface Count {
  done: number;
  ms: number;
}

/** Keeps `inFlight` calls running for `durationMs`; how many completed, in how long. */
export async function throughputCount(inFlight: number, durationMs: number, once: () => Promise<unknown>): Promise<Count> {
  const until = performance.now() + durationMs;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < until) {
        await once();
        done += 1;
      }
    }),
  );
  return { done, ms: performance.now() - started };
}

/** Keeps `inFlight` calls running for `durationMs`; returns completed calls per second. */
export async function throughput(inFlight: number, durationMs: number, once: () => Promise<unknown>): Promise<number> {
  const { done, ms } = await throughputCount(inFlight, durationMs, once);
  return done / (ms / 1000);
}

/**
 * Measures a baseline and a contender in `rounds` alternating rounds (the baseline first in even
 * rounds, the contender first in odd ones), so that a machine whose load drifts during the run —
 * other processes compiling, say — weighs on both alike. Returns each side's rounds in order.
 */
export async function interleaved<T>(rounds: number, baseline: () => Promise<T>, contender: () => Promise<T>): Promise<{ baseline: T[]; contender: T[] }> {
  const result = { baseline: [] as T[], contender: [] as T[] };
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      result.baseline.push(await baseline());
      result.contender.push(await contender());
    } else {
      result.contender.push(await contender());
      result.baseline.push(await baseline());
    }
  }
  return result;
}

export const perSecond = (counts: Count[]) => counts.reduce((sum, c) => sum + c.done, 0) / (counts.reduce((sum, c) => sum + c.ms, 0) / 1000);

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export function table(rows: (string | number)[][]): string {
  const cells = rows.map((row) => row.map((cell) => (typeof cell === "number" ? formatNumber(cell) : cell)));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join("  ")).join("\n");
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return value.toFixed(0);
  return value.toFixed(3);
}

export const round = (value: number, digits = 3) => Number(value.toFixed(digits));
