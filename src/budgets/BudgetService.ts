import { Budget, BudgetPeriod, Evaluation, Execution, LanguageModel, Optimization } from "../../entities/index.js";
import { AuditLog } from "../audit/AuditLog.js";
import type { Database } from "../db/Database.js";
import { FreshReads } from "../db/FreshReads.js";
import { insertRow, updateAtVersion, upsertOnce } from "../db/rows.js";
import { AppError } from "../errors.js";
import { isId, newId } from "../ids.js";
import type { Scope } from "../scope.js";
import { IssueList } from "../validation.js";

export interface SetBudget {
  languageModelId?: string | null;
  period: BudgetPeriod;
  limitUsd: number;
}

/** A budget with where its period stands now. */
export interface BudgetStatus {
  budget: Budget;
  periodStart: Date;
  resetsAt: Date;
  spentUsd: number;
}

const TENANT = "tenant";
const MAX_LIMIT_USD = 1e9;
/** How long an instance trusts its read of a tenant's budgets (a change made on another instance shows within it). */
const BUDGETS_FRESH_MS = 2_000;

/**
 * Spending limits (README "Release management", "Budgets"): per UTC day or month, for a tenant or
 * one language model. Spend is what the executions, evaluations and optimizations finished in the
 * period cost (their `cost`; an optimization running counts what it spent so far). A run
 * is refused with BUDGET_EXCEEDED, before any LM call, once the spend has reached a limit that
 * applies to it: when it is requested, and again when an attempt starts (it may have waited in the
 * queue meanwhile). The run that crosses a limit finishes: what it will cost is not known before.
 */
export class BudgetService {
  private readonly cached = new FreshReads<Budget[]>(BUDGETS_FRESH_MS);

  constructor(private readonly database: Database) {}

  list(scope: Scope): Promise<Budget[]> {
    return this.database.manager.find(Budget, { where: { tenantId: scope.tenantId }, order: { scopeKey: "ASC", period: "ASC" } });
  }

  async status(scope: Scope, budget: Budget, now = new Date()): Promise<BudgetStatus> {
    const { start, end } = periodOf(budget.period, now);
    return { budget, periodStart: start, resetsAt: end, spentUsd: await this.spent(scope.tenantId, budget.languageModelId, start) };
  }

  async set(scope: Scope, input: SetBudget): Promise<Budget> {
    const issues = new IssueList();
    if (!Number.isFinite(input.limitUsd) || input.limitUsd < 0 || input.limitUsd > MAX_LIMIT_USD) issues.add("input.limitUsd", `must be USD from 0 to ${MAX_LIMIT_USD}, got ${input.limitUsd}`);
    if (!Object.values(BudgetPeriod).includes(input.period)) issues.add("input.period", "must be DAY or MONTH");
    if (!issues.empty) throw AppError.fromIssues(issues.issues);
    const lmId = input.languageModelId ?? null;
    if (lmId !== null && !(isId(lmId) && (await this.database.manager.existsBy(LanguageModel, { id: lmId, tenantId: scope.tenantId })))) {
      throw new AppError("NOT_FOUND", `input.languageModelId: language model '${lmId}' not found`, { path: "input.languageModelId" });
    }
    const scopeKey = lmId ?? TENANT;
    // Two first settings of one budget at once: the second is set again over the first.
    const budget = await upsertOnce(() =>
      this.database.transaction(async (manager) => {
        const existing = await manager.findOneBy(Budget, { tenantId: scope.tenantId, scopeKey, period: input.period });
        if (existing) {
          if (!(await updateAtVersion(manager, Budget, existing.id, existing.version, { limitUsd: input.limitUsd }))) throw AppError.conflict("this budget was changed concurrently; retry", "input.limitUsd");
        } else {
          await insertRow(manager, Budget, { id: newId(), tenantId: scope.tenantId, languageModelId: lmId, scopeKey, period: input.period, limitUsd: input.limitUsd, version: 1 });
        }
        const stored = await manager.findOneByOrFail(Budget, { tenantId: scope.tenantId, scopeKey, period: input.period });
        const fields = ["languageModelId", "period", "limitUsd"];
        await AuditLog.record(manager, scope, { action: existing ? "budget.update" : "budget.create", entityType: "Budget", entityId: stored.id, before: existing ? AuditLog.snapshot(existing, fields) : null, after: AuditLog.snapshot(stored, fields) });
        return stored;
      }),
    );
    this.cached.forget(scope.tenantId);
    return budget;
  }

  async remove(scope: Scope, id: string): Promise<boolean> {
    const removed = await this.database.transaction(async (manager) => {
      const budget = isId(id) ? await manager.findOneBy(Budget, { id, tenantId: scope.tenantId }) : null;
      if (!budget) throw new AppError("NOT_FOUND", `id: budget '${id}' not found`, { path: "id" });
      await manager.delete(Budget, { id: budget.id, tenantId: scope.tenantId });
      await AuditLog.record(manager, scope, { action: "budget.delete", entityType: "Budget", entityId: budget.id, before: AuditLog.snapshot(budget, ["languageModelId", "period", "limitUsd"]), after: null });
      return true;
    });
    this.cached.forget(scope.tenantId);
    return removed;
  }

  /**
   * Throws BUDGET_EXCEEDED when a budget of the tenant (or of `languageModelId`) has been spent this
   * period, counting `running` (USD a run in progress has spent so far) too.
   */
  async check(tenantId: string, languageModelId: string, path?: string, running = 0): Promise<void> {
    const budgets = (await this.budgetsOf(tenantId)).filter((b) => b.languageModelId === null || b.languageModelId === languageModelId);
    if (budgets.length === 0) return;
    const now = new Date();
    for (const budget of budgets) {
      const { start, end } = periodOf(budget.period, now);
      const spent = (await this.spent(tenantId, budget.languageModelId, start)) + running;
      if (spent >= budget.limitUsd) {
        const whose = budget.languageModelId ? `language model '${budget.languageModelId}'` : "the tenant";
        throw new AppError("BUDGET_EXCEEDED", `${path ? `${path}: ` : ""}the ${budget.period === BudgetPeriod.DAY ? "daily" : "monthly"} budget of ${whose} is spent (${round(spent)} of ${round(budget.limitUsd)} USD); it resets at ${end.toISOString()}`, {
          layer: "validation",
          ...(path ? { path } : {}),
          details: { budgetId: budget.id, period: budget.period, limitUsd: budget.limitUsd, spentUsd: spent, resetsAt: end.toISOString() },
        });
      }
    }
  }

  private budgetsOf(tenantId: string): Promise<Budget[]> {
    return this.cached.get(tenantId, () => this.database.manager.find(Budget, { where: { tenantId } }));
  }

  /** What executions, evaluations and optimizations finished since `since` cost (of one language model's runs, when given). */
  private async spent(tenantId: string, languageModelId: string | null, since: Date): Promise<number> {
    const sums = await Promise.all(
      [Execution, Evaluation, Optimization].map(async (entity) => {
        const query = this.database.manager
          .createQueryBuilder(entity, "r")
          .select("SUM(r.cost)", "cost")
          .where("r.tenantId = :tenantId AND r.finishedAt >= :since", { tenantId, since });
        if (languageModelId) query.andWhere("r.languageModelId = :lm", { lm: languageModelId });
        const row: { cost: unknown } | undefined = await query.getRawOne();
        return Number(row?.cost ?? 0);
      }),
    );
    return sums.reduce((a, b) => a + b, 0);
  }
}

/** The UTC day or month `now` is in. */
export function periodOf(period: BudgetPeriod, now: Date): { start: Date; end: Date } {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  if (period === BudgetPeriod.DAY) {
    const start = new Date(Date.UTC(y, m, now.getUTCDate()));
    return { start, end: new Date(start.getTime() + 86_400_000) };
  }
  return { start: new Date(Date.UTC(y, m, 1)), end: new Date(Date.UTC(y, m + 1, 1)) };
}

function round(usd: number): string {
  return usd.toFixed(6).replace(/\.?0+$/, "");
}
