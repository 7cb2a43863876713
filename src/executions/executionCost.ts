import { type EntityManager, In } from "typeorm";
import { LanguageModel } from "../../entities/index.js";
import type { RunUsage } from "../adapters/DspyAdapter.js";
import type { ModelPrices } from "../languageModels/ModelPrices.js";
import { lmCallsOf, tokenCount } from "./traceLmCalls.js";

interface PricedLm {
  model: string;
  inputCostPerMTokens: number | null;
  outputCostPerMTokens: number | null;
}

/**
 * What one attempt's LM calls cost (USD): each call of the stored trace gets its `cost` (its tokens at
 * its model's price: the execution's language model's own when the call is its model, else litellm's),
 * or null when no price is known for it. Returns the sum of the priced calls, null when none was
 * priced (a run without LM calls costs 0).
 */
export function priceTrace(trace: unknown, lm: PricedLm, prices: ModelPrices): number | null {
  const calls = lmCallsOf(trace);
  if (calls.length === 0) return 0;
  const own = prices.priceOf(lm);
  let total: number | null = null;
  for (const call of calls) {
    const model = typeof call.model === "string" ? call.model : lm.model;
    const price = model === lm.model ? own?.price : prices.lookup(model);
    if (!price) {
      call.cost = null;
      continue;
    }
    const cost = tokenCount(call.usage?.prompt_tokens) * price.input + tokenCount(call.usage?.completion_tokens) * price.output;
    call.cost = cost;
    total = (total ?? 0) + cost;
  }
  return total;
}

/** An execution's cost after another attempt: what the earlier ones cost plus this one's. */
export function addCost(before: number | null, attempt: number | null): number | null {
  return before === null && attempt === null ? null : (before ?? 0) + (attempt ?? 0);
}

/**
 * What an evaluation's or a compile's usage cost (USD): each language model's tokens at its price
 * (`lms`: the rows, by id); null when none of them is priced.
 */
export function priceRunUsage(usage: RunUsage | undefined, lms: Map<string, PricedLm>, prices: ModelPrices): number | null {
  if (!usage) return null;
  let total: number | null = null;
  for (const [id, used] of Object.entries(usage.byLanguageModel)) {
    const lm = lms.get(id);
    const known = lm ? prices.priceOf(lm) : null;
    if (!known) continue;
    total = (total ?? 0) + used.promptTokens * known.price.input + used.completionTokens * known.price.output;
  }
  return total;
}

/** The language models a usage names, read once: what priceRunUsage prices with. */
export async function languageModelsOf(manager: EntityManager, tenantId: string, usage: RunUsage | undefined): Promise<Map<string, LanguageModel>> {
  const ids = Object.keys(usage?.byLanguageModel ?? {});
  if (ids.length === 0) return new Map();
  return new Map((await manager.find(LanguageModel, { where: { tenantId, id: In(ids) } })).map((lm) => [lm.id, lm]));
}
