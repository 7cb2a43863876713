/** Small helpers shared by the benchmarks: percentiles and a fixed-width table. */
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

/** Runs `once` sequentially `n` times (after `warmup` runs) and returns latency percentiles in ms. */
export async function sequential(n: number, warmup: number, once: () => Promise<unknown>): Promise<Latency> {
  for (let i = 0; i < warmup; i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await once();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), n };
}

/** Keeps `inFlight` calls running for `durationMs`; returns completed calls per second. */
export async function throughput(inFlight: number, durationMs: number, once: () => Promise<unknown>): Promise<number> {
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
  return done / ((performance.now() - started) / 1000);
}

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
