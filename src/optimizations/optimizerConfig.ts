import type { OptimizerName } from "../adapters/DspyAdapter.js";
import { OPTIMIZER_ENTRIES, optionProblem } from "../catalog.js";
import type { IssueDetail } from "../errors.js";

/**
 * Per-optimizer config checks against the shared catalog (bridge-py/dspy_bridge/catalog.json), so a
 * bad config is refused before anything is written; the worker checks the same table with jsonschema.
 * The cross-key rules below (MIPRO_V2's auto, GEPA's one budget, SIMBA's bsize) need the data sizes,
 * which only the server has when it validates.
 */
export const OPTIMIZERS = Object.keys(OPTIMIZER_ENTRIES) as readonly OptimizerName[];
export type { OptimizerName };

export function isOptimizer(value: unknown): value is OptimizerName {
  return typeof value === "string" && Object.hasOwn(OPTIMIZER_ENTRIES, value);
}

/**
 * Issues for an optimizer's config, paths under `root` (`<root>.<key>`); `trainsetSize` and
 * `devsetSize` enable the checks that depend on the data (MIPRO_V2 without a devset, SIMBA's bsize).
 */
export function validateOptimizerConfig(optimizer: OptimizerName, config: unknown, root: string, trainsetSize?: number, devsetSize?: number): IssueDetail[] {
  if (config == null) config = {};
  if (typeof config !== "object" || Array.isArray(config)) return [{ path: root, reason: "must be an object" }];
  const values = config as Record<string, unknown>;
  const schema = OPTIMIZER_ENTRIES[optimizer]!.options;
  const issues: IssueDetail[] = [];
  for (const [key, value] of Object.entries(values)) {
    // Own keys of the schema only: "constructor", "hasOwnProperty", "__proto__"… name no check.
    const option = Object.hasOwn(schema, key) ? schema[key] : undefined;
    if (!option) {
      issues.push({ path: `${root}.${key}`, reason: `${optimizer} takes no '${key}' (it takes ${Object.keys(schema).sort().join(", ")})` });
      continue;
    }
    const reason = optionProblem(option, value);
    if (reason) issues.push({ path: `${root}.${key}`, reason });
  }
  if (issues.length > 0) return issues;
  const set = (key: string) => values[key] !== undefined && values[key] !== null;
  if (optimizer === "MIPRO_V2") {
    const auto = Object.hasOwn(values, "auto") ? values.auto : "light";
    if (auto === null && (!set("num_candidates") || !set("num_trials"))) {
      issues.push({ path: `${root}.${set("num_candidates") ? "num_trials" : "num_candidates"}`, reason: "is required when auto is null" });
    }
    if (auto !== null) {
      for (const key of ["num_candidates", "num_trials"]) if (set(key)) issues.push({ path: `${root}.${key}`, reason: `cannot be set with auto '${String(auto)}' (set auto to null to choose it)` });
    }
    if (!devsetSize && trainsetSize !== undefined && trainsetSize < 2) issues.push({ path: "input.trainSplit", reason: "MIPRO_V2 needs at least 2 examples when there is no devset" });
  }
  if (optimizer === "GEPA") {
    const budgets = ["auto", "max_full_evals", "max_metric_calls"].filter(set);
    if (budgets.length !== 1) issues.push({ path: root, reason: `GEPA needs exactly one of auto, max_full_evals, max_metric_calls${budgets.length ? ` (got ${budgets.join(", ")})` : ""}` });
  }
  if (optimizer === "SIMBA" && trainsetSize !== undefined) {
    const bsize = (values.bsize as number | undefined) ?? 32;
    if (bsize > trainsetSize) issues.push({ path: `${root}.bsize`, reason: `is ${bsize} but the trainset has ${trainsetSize} examples (SIMBA needs bsize <= trainset size)` });
  }
  return issues;
}
