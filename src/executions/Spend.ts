import { Execution } from "../../entities/index.js";
import type { Database } from "../db/Database.js";
import { AppError } from "../errors.js";
import type { Scope } from "../scope.js";

export interface SpendGroup {
  id: string;
  executions: number;
  /** USD. */
  cost: number;
}

export interface Spend {
  since: Date;
  until: Date;
  executions: number;
  cost: number;
  byLanguageModel: SpendGroup[];
  byProgram: SpendGroup[];
}

const MAX_DAYS = 366;

/** What a tenant's executions finished in [since, until) cost, in all, per language model and per program (summed in SQL). */
export async function spend(database: Database, scope: Scope, since: Date, until: Date): Promise<Spend> {
  if (!(since.getTime() < until.getTime())) throw AppError.badInput("until", "must be after since");
  if (until.getTime() - since.getTime() > MAX_DAYS * 86_400_000) throw AppError.badInput("since", `the period may be at most ${MAX_DAYS} days`);
  const grouped = async (column: "languageModelId" | "programId"): Promise<SpendGroup[]> => {
    const rows: { id: string; executions: unknown; cost: unknown }[] = await database.manager
      .createQueryBuilder(Execution, "e")
      .select(`e.${column}`, "id")
      .addSelect("COUNT(*)", "executions")
      .addSelect("SUM(e.cost)", "cost")
      .where("e.tenantId = :tenantId AND e.finishedAt >= :since AND e.finishedAt < :until", { tenantId: scope.tenantId, since, until })
      .groupBy(`e.${column}`)
      .getRawMany();
    // Drivers give aggregates as numbers or strings.
    return rows.map((r) => ({ id: r.id, executions: Number(r.executions), cost: Number(r.cost ?? 0) })).sort((a, b) => b.cost - a.cost || (a.id < b.id ? -1 : 1));
  };
  const [byLanguageModel, byProgram] = await Promise.all([grouped("languageModelId"), grouped("programId")]);
  return {
    since,
    until,
    executions: byProgram.reduce((n, g) => n + g.executions, 0),
    cost: byProgram.reduce((n, g) => n + g.cost, 0),
    byLanguageModel,
    byProgram,
  };
}
