import { MoreThanOrEqual } from "typeorm";
import { Execution, ExecutionStatus, Feedback } from "../../entities/index.js";
import type { Database } from "../db/Database.js";
import { AppError } from "../errors.js";
import type { Scope } from "../scope.js";

/** One version's figures over a window (Program.versionStats). */
export interface VersionStats {
  versionId: string;
  executions: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** PENDING or RUNNING now. */
  unfinished: number;
  /** failed / (completed + failed); null with neither. */
  errorRate: number | null;
  /** Queued to COMPLETED or FAILED, nearest rank; null with neither. */
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** USD, of the executions whose cost is known. */
  cost: number;
  feedbackCount: number;
  /** Mean feedback score (0–1); null without feedback. */
  feedbackScore: number | null;
}

const MAX_WINDOW_MINUTES = 30 * 24 * 60;

/**
 * Per-version figures of one program over the last `windowMinutes`: its executions queued in the
 * window, the feedback given in it. Read from the rows themselves, so every instance answers the
 * same; the same figures accumulate per instance as Prometheus series (dspy_program_version_*).
 */
export async function versionStats(database: Database, scope: Scope, programId: string, windowMinutes: number): Promise<VersionStats[]> {
  if (!Number.isInteger(windowMinutes) || windowMinutes < 1 || windowMinutes > MAX_WINDOW_MINUTES) {
    throw AppError.badInput("windowMinutes", `must be a whole number of minutes from 1 to ${MAX_WINDOW_MINUTES} (30 days), got ${windowMinutes}`);
  }
  const since = new Date(Date.now() - windowMinutes * 60_000);
  const [executions, feedback] = await Promise.all([
    database.manager.find(Execution, { select: { programVersionId: true, status: true, queuedAt: true, finishedAt: true, usage: true, cost: true }, where: { tenantId: scope.tenantId, programId, queuedAt: MoreThanOrEqual(since) } }),
    database.manager.find(Feedback, { select: { programVersionId: true, score: true }, where: { tenantId: scope.tenantId, programId, updatedAt: MoreThanOrEqual(since) } }),
  ]);
  const byVersion = new Map<string, { stats: VersionStats; latencies: number[]; scores: number[] }>();
  const entry = (versionId: string) => {
    let found = byVersion.get(versionId);
    if (!found) {
      const stats: VersionStats = { versionId, executions: 0, completed: 0, failed: 0, cancelled: 0, unfinished: 0, errorRate: null, latencyP50Ms: null, latencyP95Ms: null, promptTokens: 0, completionTokens: 0, totalTokens: 0, cost: 0, feedbackCount: 0, feedbackScore: null };
      byVersion.set(versionId, (found = { stats, latencies: [], scores: [] }));
    }
    return found;
  };
  for (const e of executions) {
    const { stats, latencies } = entry(e.programVersionId);
    stats.executions += 1;
    if (e.status === ExecutionStatus.COMPLETED) stats.completed += 1;
    else if (e.status === ExecutionStatus.FAILED) stats.failed += 1;
    else if (e.status === ExecutionStatus.CANCELLED) stats.cancelled += 1;
    else stats.unfinished += 1;
    if ((e.status === ExecutionStatus.COMPLETED || e.status === ExecutionStatus.FAILED) && e.finishedAt) latencies.push(e.finishedAt.getTime() - e.queuedAt.getTime());
    stats.promptTokens += e.usage?.prompt_tokens ?? 0;
    stats.completionTokens += e.usage?.completion_tokens ?? 0;
    stats.totalTokens += e.usage?.total_tokens ?? 0;
    stats.cost += e.cost ?? 0;
  }
  for (const f of feedback) entry(f.programVersionId).scores.push(f.score);
  return [...byVersion.values()]
    .map(({ stats, latencies, scores }) => {
      const finished = stats.completed + stats.failed;
      latencies.sort((a, b) => a - b);
      return {
        ...stats,
        errorRate: finished > 0 ? stats.failed / finished : null,
        latencyP50Ms: nearestRank(latencies, 0.5),
        latencyP95Ms: nearestRank(latencies, 0.95),
        feedbackCount: scores.length,
        feedbackScore: scores.length > 0 ? scores.reduce((a, b) => a + b, 0) / scores.length : null,
      };
    })
    .sort((a, b) => (a.versionId < b.versionId ? -1 : 1));
}

function nearestRank(sorted: number[], q: number): number | null {
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}
