import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { BRIDGE_DIR } from "../workers/bridgePaths.js";

/** USD per token. */
export interface TokenPrice {
  input: number;
  output: number;
}

/** Where a language model's price comes from: its own override, litellm's cost map, or nowhere. */
export type PriceSource = "override" | "litellm";

/**
 * Prices per model from litellm's model cost map, the JSON file litellm ships and reads itself
 * (`model_prices_and_context_window_backup.json` in the workers' venv): the same data on both sides,
 * read once, lazily. A model is looked up as litellm does: its whole string, then without the
 * provider prefix (`openai/gpt-4o-mini` → `gpt-4o-mini`). No file (no venv here): no prices, and a
 * language model needs its own (`inputCostPerMTokens` / `outputCostPerMTokens`).
 */
export class ModelPrices {
  private table: Map<string, TokenPrice> | null = null;

  constructor(private readonly file: string | null = litellmCostMap()) {}

  lookup(model: string): TokenPrice | null {
    const table = this.load();
    return table.get(model) ?? table.get(model.slice(model.indexOf("/") + 1)) ?? null;
  }

  /** The price a language model's calls cost: its own override when set (both halves), else litellm's for its model. */
  priceOf(lm: { model: string; inputCostPerMTokens: number | null; outputCostPerMTokens: number | null }): { price: TokenPrice; source: PriceSource } | null {
    if (lm.inputCostPerMTokens != null && lm.outputCostPerMTokens != null) return { price: { input: lm.inputCostPerMTokens / 1e6, output: lm.outputCostPerMTokens / 1e6 }, source: "override" };
    const known = this.lookup(lm.model);
    return known ? { price: known, source: "litellm" } : null;
  }

  private load(): Map<string, TokenPrice> {
    if (this.table) return this.table;
    this.table = new Map();
    if (!this.file) return this.table;
    try {
      const map = JSON.parse(readFileSync(this.file, "utf8")) as Record<string, { input_cost_per_token?: unknown; output_cost_per_token?: unknown }>;
      for (const [model, entry] of Object.entries(map)) {
        const input = entry?.input_cost_per_token;
        const output = entry?.output_cost_per_token;
        if (typeof input === "number" && typeof output === "number" && input >= 0 && output >= 0) this.table.set(model, { input, output });
      }
    } catch {
      // An unreadable map is no map: prices come from the language models' own settings only.
    }
    return this.table;
  }
}

/** litellm's cost map in the workers' venv (bridge-py/.venv/lib/python3.x/site-packages/litellm/), or null. */
function litellmCostMap(): string | null {
  const lib = path.join(BRIDGE_DIR, ".venv", "lib");
  try {
    for (const python of readdirSync(lib).filter((d) => d.startsWith("python3")).sort().reverse()) {
      const file = path.join(lib, python, "site-packages", "litellm", "model_prices_and_context_window_backup.json");
      if (existsSync(file)) return file;
    }
  } catch {
    /* no venv */
  }
  return null;
}
