import { RUN_LIMITS } from "../catalog.js";
import { AppError } from "../errors.js";
import type { Binding, Condition, Step } from "../programs/definition/index.js";
import { isPyFloat } from "./pyText.js";

/**
 * The forward interpreter of bridge-py/dspy_bridge/forward.py, for programs run in Node: the same
 * steps (call, return, map, loop, if), the same step names in the trace ("answers[2].gen"), the same
 * bounds (catalog.json `runLimits`) and the same errors. A parallel map runs up to `parallel`
 * elements at once, as the worker's threads do.
 */
type Results = Record<string, Record<string, unknown>>;

/** Calls module `name` on `inputs` as step `step` (its trace name); the module's outputs. */
export type CallModule = (name: string, step: string, inputs: Record<string, unknown>) => Promise<Record<string, unknown>>;

export class RunBudget {
  lmCalls = 0;
  steps = 0;

  constructor(readonly maxLmCalls: number = RUN_LIMITS.maxLmCalls, readonly maxSteps: number = RUN_LIMITS.maxSteps) {}

  lmCall(): void {
    if (++this.lmCalls > this.maxLmCalls) {
      throw new AppError("LIMIT_EXCEEDED", `the run made more than ${this.maxLmCalls} LM calls (MAX_LM_CALLS_PER_EXECUTION)`, { layer: "validation", details: { limit: "lm_calls", max: this.maxLmCalls } });
    }
  }

  step(where: string): void {
    if (++this.steps > this.maxSteps) {
      throw new AppError("LIMIT_EXCEEDED", `${where}: the run executed more than ${this.maxSteps} steps`, { layer: "validation", details: { limit: "steps", max: this.maxSteps } });
    }
  }
}

/** Runs steps, adding what they define to `results`; the return step's values, if there is one. */
export async function runSteps(steps: readonly Step[], results: Results, call: CallModule, budget: RunBudget, where = ""): Promise<Record<string, unknown> | undefined> {
  for (const step of steps) {
    if ("return" in step) {
      const prediction: Record<string, unknown> = {};
      for (const [name, binding] of Object.entries(step.return)) prediction[name] = resolve(binding, results);
      return prediction;
    }
    const name = `${where}${step.as}`;
    budget.step(name);
    if ("call" in step) {
      const inputs: Record<string, unknown> = {};
      for (const [key, binding] of Object.entries(step.with)) inputs[key] = resolve(binding, results);
      results[step.as] = await call(step.call, name, inputs);
    } else if ("map" in step) {
      results[step.as] = await map(step, results, call, budget, name);
    } else if ("loop" in step) {
      results[step.as] = await loop(step, results, call, budget, name);
    } else {
      const branch = holds(step.if, results) ? step.then : step.else;
      results[step.as] = (await runSteps(branch, { ...results }, call, budget, `${name}.`)) ?? {};
    }
  }
  return undefined;
}

function resolve(binding: Binding, results: Results): unknown {
  if ("literal" in binding) return structuredClone(binding.literal); // a module must not change the definition's literal
  const { step, field } = binding.ref;
  if (step === "input") {
    if (!Object.hasOwn(results.input!, field)) throw new AppError("INVALID_INPUTS", `inputs.${field}: is required`, { layer: "validation" });
    return results.input![field];
  }
  const source = results[step]!;
  if (!Object.hasOwn(source, field)) throw new AppError("DSPY_ERROR", `step '${step}' produced no field '${field}'`, { layer: "dspy" });
  return source[field];
}

/** Python's `==` on the scalars a condition compares (True == 1, 1 == 1.0). */
function holds(condition: Condition, results: Results): boolean {
  const value = resolve({ ref: condition.ref }, results);
  const expected = condition.equals;
  const numeric = (v: unknown) => (typeof v === "boolean" ? Number(v) : v);
  return typeof value === "string" || typeof expected === "string" ? value === expected : numeric(value) === numeric(expected);
}

type MapStep = Extract<Step, { map: Binding }>;
type LoopStep = Extract<Step, { loop: unknown }>;

async function map(step: MapStep, results: Results, call: CallModule, budget: RunBudget, name: string): Promise<Record<string, unknown[]>> {
  const items = resolve(step.map, results);
  if (!Array.isArray(items)) throw new AppError("DSPY_ERROR", `${name}: map needs a list, got ${pythonTypeName(items)}`, { layer: "dspy" });
  if (items.length > RUN_LIMITS.maxMapItems) {
    throw new AppError("LIMIT_EXCEEDED", `${name}: map over ${items.length} elements; the limit is ${RUN_LIMITS.maxMapItems}`, { layer: "validation", details: { limit: "map_items", max: RUN_LIMITS.maxMapItems } });
  }
  const one = async (index: number) => (await runSteps(step.steps, { ...results, [step.as]: { item: items[index], index } }, call, budget, `${name}[${index}].`)) ?? {};
  const runs: Record<string, unknown>[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      runs[index] = await one(index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(step.parallel, items.length)) }, lane));
  const fields = runs.length > 0 ? Object.keys(runs[0]!) : [];
  return Object.fromEntries(fields.map((field) => [field, runs.map((run) => run[field])]));
}

async function loop(step: LoopStep, results: Results, call: CallModule, budget: RunBudget, name: string): Promise<Record<string, unknown>> {
  let state: Record<string, unknown> = Object.fromEntries(Object.entries(step.vars).map(([v, spec]) => [v, resolve(spec.value, results)]));
  for (let round = 0; round < step.loop.max; round++) {
    const scope: Results = { ...results, [step.as]: { ...state } };
    await runSteps(step.steps, scope, call, budget, `${name}[${round}].`);
    const updated = { ...state };
    for (const [v, binding] of Object.entries(step.set)) updated[v] = resolve(binding, scope);
    for (const [v, binding] of Object.entries(step.append)) updated[v] = [...(updated[v] as unknown[]), resolve(binding, scope)];
    for (const [v, binding] of Object.entries(step.extend)) updated[v] = [...(updated[v] as unknown[]), ...(resolve(binding, scope) as unknown[])];
    state = updated;
    scope[step.as] = { ...state };
    if (step.loop.until && holds(step.loop.until, scope)) break;
  }
  return state;
}

/** `type(value).__name__` of a JSON value as the worker holds it. */
function pythonTypeName(value: unknown): string {
  if (value === null || value === undefined) return "NoneType";
  if (typeof value === "string") return "str";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number") return isPyFloat(value) ? "float" : "int";
  return "dict";
}
