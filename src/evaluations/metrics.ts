import type { IssueDetail } from "../errors.js";
import { validateProgramDefinition } from "../programs/definition/index.js";
import type { MetricKind } from "../adapters/DspyAdapter.js";
import { METRIC_KIND_ENTRIES } from "../catalog.js";

/**
 * Declarative metrics: the one check of a metric spec (so a bad metric is refused before anything is
 * written or queued; the kinds are the shared catalog's), and the scorers of the simple kinds for the
 * in-process adapter (same semantics as the Python ones).
 */
export const METRIC_KINDS = Object.keys(METRIC_KIND_ENTRIES) as readonly MetricKind[];
const SPEC_KEYS = ["judge", "kind", "label", "output", "tolerance"];
const JUDGE_KEYS = ["definition", "inputs", "lm_key", "score"];
const JUDGE_SOURCES = ["input", "output", "label"];

export interface MetricCheck {
  /** The program's output fields. */
  outputs: readonly string[];
  /** The label fields every example has (null: not checked). */
  labels: ReadonlySet<string> | null;
  /** The program's input fields (for a judge's `input.<f>`; null: not checked). */
  inputs?: readonly string[] | null;
  /** Where the metric sits, e.g. `input.metric`. */
  root: string;
  /** The key naming the judge's LM: `lm_key` on the wire, `languageModelId` in GraphQL. */
  judgeLmKey?: string;
}

/** Issues `[{path, reason}]` for a metric spec; nothing runs (a judge's definition is validated). */
export function validateMetric(spec: unknown, check: MetricCheck): IssueDetail[] {
  const issues: IssueDetail[] = [];
  const issue = (path: string, reason: string) => issues.push({ path: `${check.root}${path}`, reason });
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
    issue("", "must be an object with kind, output and label");
    return issues;
  }
  const s = spec as Record<string, unknown>;
  const judgeLmKey = check.judgeLmKey ?? "lm_key";
  for (const key of Object.keys(s)) if (!SPEC_KEYS.includes(key)) issue(`.${key}`, `unknown key '${key}' (expected ${SPEC_KEYS.join(", ")})`);
  const kind = s.kind as MetricKind;
  if (!METRIC_KINDS.includes(kind)) issue(".kind", `must be one of ${METRIC_KINDS.join(", ")}`);
  const output = s.output;
  if (typeof output !== "string" || output === "") issue(".output", "must name an output field of the program");
  else if (!check.outputs.includes(output)) issue(".output", `the program has no output field '${output}' (outputs: ${check.outputs.join(", ") || "none"})`);
  const label = s.label;
  if (typeof label !== "string" || label === "") issue(".label", "must name a label field of the examples");
  else if (check.labels !== null && !check.labels.has(label)) issue(".label", `no label field '${label}' in every example (labels: ${[...check.labels].sort().join(", ") || "none"})`);
  if (s.tolerance !== undefined && s.tolerance !== null) {
    const tolerance = s.tolerance;
    if (kind !== "numeric") issue(".tolerance", "only a numeric metric takes a tolerance");
    else if (typeof tolerance !== "number" || !Number.isFinite(tolerance) || tolerance < 0) issue(".tolerance", "must be a number >= 0");
  }
  if (kind === "lm_judge") validateJudge(s.judge, issue, check, judgeLmKey);
  else if (s.judge !== undefined && s.judge !== null) issue(".judge", "only an lm_judge metric takes a judge");
  return issues;
}

function validateJudge(judge: unknown, issue: (path: string, reason: string) => void, check: MetricCheck, lmKey: string): void {
  if (judge === null || typeof judge !== "object" || Array.isArray(judge)) {
    issue(".judge", `an lm_judge metric needs judge: {definition, ${lmKey}, score, inputs}`);
    return;
  }
  const j = judge as Record<string, unknown>;
  // Over GraphQL a judge may also be a stored program: its id and version are kept with the metric.
  const keys = [...JUDGE_KEYS.map((k) => (k === "lm_key" ? lmKey : k)), ...(lmKey === "languageModelId" ? ["programId", "versionId"] : [])];
  for (const key of Object.keys(j)) if (!keys.includes(key)) issue(`.judge.${key}`, `unknown key '${key}' (expected ${[...keys].sort().join(", ")})`);
  if (typeof j[lmKey] !== "string" || j[lmKey] === "") issue(`.judge.${lmKey}`, "must name the judge's language model");
  const result = validateProgramDefinition(j.definition);
  if (!result.ok) {
    for (const found of result.issues) issue(`.judge.${found.path}`, found.reason);
    return;
  }
  const program = result.program;
  const score = j.score;
  if (typeof score !== "string" || !Object.hasOwn(program.outputs, score)) {
    issue(".judge.score", `must name an output of the judge program (outputs: ${Object.keys(program.outputs).join(", ")})`);
  } else if (!["bool", "int", "float"].includes(program.outputs[score].type as string)) {
    issue(".judge.score", "the judge's score output must be a bool, int or float");
  }
  const mapping = j.inputs;
  if (mapping === null || typeof mapping !== "object" || Array.isArray(mapping)) {
    issue(".judge.inputs", "must map each judge input to input.<field>, output.<field> or label.<field>");
    return;
  }
  const m = mapping as Record<string, unknown>;
  for (const name of Object.keys(program.inputs)) if (!Object.hasOwn(m, name)) issue(`.judge.inputs.${name}`, "the judge program's input is not mapped");
  for (const [name, source] of Object.entries(m)) {
    if (!Object.hasOwn(program.inputs, name)) {
      issue(`.judge.inputs.${name}`, `the judge program has no input '${name}'`);
      continue;
    }
    const dot = typeof source === "string" ? source.indexOf(".") : -1;
    if (typeof source !== "string" || dot < 0 || !JUDGE_SOURCES.includes(source.slice(0, dot))) {
      issue(`.judge.inputs.${name}`, "must be input.<field>, output.<field> or label.<field>");
      continue;
    }
    const where = source.slice(0, dot);
    const field = source.slice(dot + 1);
    if (where === "output" && !check.outputs.includes(field)) issue(`.judge.inputs.${name}`, `the program has no output field '${field}'`);
    else if (where === "input" && check.inputs && !check.inputs.includes(field)) issue(`.judge.inputs.${name}`, `the program has no input field '${field}'`);
    else if (where === "label" && check.labels !== null && !check.labels.has(field)) issue(`.judge.inputs.${name}`, `no label field '${field}'`);
  }
}

/** Label fields every example has (a metric's label must be in all of them). */
export function commonLabels(examples: readonly { labels: Record<string, unknown> }[]): Set<string> {
  let common: Set<string> | null = null;
  for (const example of examples) {
    const keys = Object.keys(example.labels);
    common = common === null ? new Set(keys) : new Set(keys.filter((k) => common!.has(k)));
  }
  return common ?? new Set();
}

// --- scoring (the in-process adapter; the same rules as metrics.py) -------------------------------

const PUNCTUATION = new Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");

/** DSPy's normalize_text: NFD, lower case, no punctuation, no articles, collapsed spaces. */
export function normalizeText(text: string): string {
  const lower = text.normalize("NFD").toLowerCase();
  const noPunct = [...lower].filter((ch) => !PUNCTUATION.has(ch)).join("");
  return noPunct.replace(/\b(a|an|the)\b/g, " ").split(/\s+/).filter(Boolean).join(" ");
}

function text(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return JSON.stringify(value);
}

const labelsOf = (label: unknown): unknown[] => (Array.isArray(label) ? label : [label]);

function numberOf(value: unknown): number | null {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "string") {
    const trimmed = value.trim().replaceAll(",", "");
    if (trimmed === "" || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$|^[+-]?(inf|infinity|nan)$/i.test(trimmed)) return null;
    const parsed = Number(trimmed);
    return Number.isFinite(parsed) ? parsed : null;
  }
  return null;
}

function f1(prediction: string, truth: string): number {
  const predicted = normalizeText(prediction).split(" ").filter(Boolean);
  const expected = normalizeText(truth).split(" ").filter(Boolean);
  const counts = new Map<string, number>();
  for (const token of expected) counts.set(token, (counts.get(token) ?? 0) + 1);
  let same = 0;
  for (const token of predicted) {
    const left = counts.get(token) ?? 0;
    if (left > 0) {
      same += 1;
      counts.set(token, left - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / predicted.length;
  const recall = same / expected.length;
  return (2 * precision * recall) / (precision + recall);
}

/** The score (0–1) of one output against one label; null for kinds only DSPy can score. */
export function scoreSimple(kind: MetricKind, output: unknown, label: unknown, tolerance = 0): number | null {
  const labels = labelsOf(label);
  switch (kind) {
    case "exact_match":
      return labels.some((g) => text(output).trim() === text(g).trim()) ? 1 : 0;
    case "normalized_exact_match":
      return labels.some((g) => normalizeText(text(output)) === normalizeText(text(g))) ? 1 : 0;
    case "contains": {
      const haystack = normalizeText(text(output));
      return labels.some((g) => haystack.includes(normalizeText(text(g)))) ? 1 : 0;
    }
    case "token_f1":
      return Math.max(...labels.map((g) => f1(text(output), text(g))));
    case "numeric": {
      const got = numberOf(output);
      if (got === null) return 0;
      return labels.some((g) => {
        const want = numberOf(g);
        return want !== null && Math.abs(got - want) <= tolerance + 1e-12;
      })
        ? 1
        : 0;
    }
    default:
      return null;
  }
}

/** dspy.Evaluate's aggregate: the mean score × 100, rounded to 2 decimals. */
export function aggregateScore(scores: readonly number[]): number {
  if (scores.length === 0) return 0;
  const sum = scores.reduce((a, b) => a + b, 0);
  return Math.round((100 * sum) / scores.length * 100) / 100;
}
