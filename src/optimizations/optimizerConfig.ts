import type { IssueDetail } from "../errors.js";

/**
 * Per-optimizer config checks: a port of bridge-py's `validate_config` (dspy_bridge/optimize.py,
 * CONFIG_SCHEMAS), so a bad config is refused before anything is written. The worker checks again
 * (INVALID_CONFIG) when the job runs.
 */
export const OPTIMIZERS = ["LABELED_FEW_SHOT", "BOOTSTRAP_FEW_SHOT", "BOOTSTRAP_FEW_SHOT_WITH_RANDOM_SEARCH", "COPRO", "MIPRO_V2", "SIMBA", "GEPA"] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

type Check = (value: unknown) => string | null;

const MAX_THREADS = 32;

const int = (lo: number, hi: number | null = null, nullable = false): Check => (v) => {
  if (v === null && nullable) return null;
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || (hi !== null && v > hi)) {
    return `must be an integer ${hi === null ? `>= ${lo}` : `from ${lo} to ${hi}`}${nullable ? " or null" : ""}`;
  }
  return null;
};
const num = (lo: number, hi: number | null = null, nullable = false): Check => (v) => {
  if (v === null && nullable) return null;
  if (typeof v !== "number" || !Number.isFinite(v) || v < lo || (hi !== null && v > hi)) {
    return `must be a number ${hi === null ? `>= ${lo}` : `from ${lo} to ${hi}`}${nullable ? " or null" : ""}`;
  }
  return null;
};
const bool: Check = (v) => (typeof v === "boolean" ? null : "must be true or false");
const oneOf = (values: string[], nullable = false): Check => (v) =>
  (v === null && nullable) || (typeof v === "string" && values.includes(v)) ? null : `must be one of ${values.join(", ")}${nullable ? " or null" : ""}`;

const DEMOS = { max_bootstrapped_demos: int(0, 100), max_labeled_demos: int(0, 100) };
const THREADS = { num_threads: int(1, MAX_THREADS, true) };
const BOOTSTRAP = { ...DEMOS, max_rounds: int(1, 10), max_errors: int(0, null, true), metric_threshold: num(0, 1, true) };
const AUTO = oneOf(["light", "medium", "heavy"], true);

export const CONFIG_SCHEMAS: Record<OptimizerName, Record<string, Check>> = {
  LABELED_FEW_SHOT: { k: int(1, 100), sample: bool },
  BOOTSTRAP_FEW_SHOT: BOOTSTRAP,
  BOOTSTRAP_FEW_SHOT_WITH_RANDOM_SEARCH: { ...BOOTSTRAP, ...THREADS, num_candidate_programs: int(1, 100), stop_at_score: num(0, 100, true), labeled_sample: bool },
  COPRO: { breadth: int(2, 50), depth: int(1, 20), init_temperature: num(0, 2), track_stats: bool },
  MIPRO_V2: {
    ...DEMOS,
    ...THREADS,
    auto: AUTO,
    num_candidates: int(1, 100, true),
    max_errors: int(0, null, true),
    init_temperature: num(0, 2),
    metric_threshold: num(0, 1, true),
    num_trials: int(1, 1000, true),
    minibatch: bool,
    minibatch_size: int(1, 1000),
    minibatch_full_eval_steps: int(1, 1000),
    program_aware_proposer: bool,
    data_aware_proposer: bool,
    tip_aware_proposer: bool,
    fewshot_aware_proposer: bool,
    view_data_batch_size: int(1, 100),
  },
  SIMBA: {
    ...THREADS,
    bsize: int(1, 1000),
    num_candidates: int(1, 100),
    max_steps: int(1, 1000),
    max_demos: int(0, 100),
    demo_input_field_maxlen: int(1),
    temperature_for_sampling: num(0, 2),
    temperature_for_candidates: num(0, 2),
  },
  GEPA: {
    ...THREADS,
    auto: AUTO,
    max_full_evals: int(1, 10_000, true),
    max_metric_calls: int(1, 1_000_000, true),
    reflection_minibatch_size: int(1, 1000),
    candidate_selection_strategy: oneOf(["pareto", "current_best"]),
    component_selector: oneOf(["round_robin", "all"]),
    skip_perfect_score: bool,
    add_format_failure_as_feedback: bool,
    use_merge: bool,
    max_merge_invocations: int(0, 1000, true),
    failure_score: num(0, 1),
    perfect_score: num(0, 1),
  },
};

export function isOptimizer(value: unknown): value is OptimizerName {
  return typeof value === "string" && (OPTIMIZERS as readonly string[]).includes(value);
}

/**
 * Issues for an optimizer's config, paths under `root` (`<root>.<key>`); `trainsetSize` and
 * `devsetSize` enable the checks that depend on the data (MIPRO_V2 without a devset, SIMBA's bsize).
 */
export function validateOptimizerConfig(optimizer: OptimizerName, config: unknown, root: string, trainsetSize?: number, devsetSize?: number): IssueDetail[] {
  if (config == null) config = {};
  if (typeof config !== "object" || Array.isArray(config)) return [{ path: root, reason: "must be an object" }];
  const values = config as Record<string, unknown>;
  const schema = CONFIG_SCHEMAS[optimizer];
  const issues: IssueDetail[] = [];
  for (const [key, value] of Object.entries(values)) {
    // Own keys of the schema only: "constructor", "hasOwnProperty", "__proto__"… name no check.
    const check = Object.hasOwn(schema, key) ? schema[key] : undefined;
    if (!check) {
      issues.push({ path: `${root}.${key}`, reason: `${optimizer} takes no '${key}' (it takes ${Object.keys(schema).sort().join(", ")})` });
      continue;
    }
    const reason = check(value);
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
