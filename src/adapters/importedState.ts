import type { IssueDetail } from "../errors.js";
import type { ModuleSpec, NormalizedProgram } from "../programs/definition/index.js";
import { formatPath } from "../programs/definition/format.js";
import { predictorPaths } from "../programs/programModules.js";

/** The keys of a predictor's state in DSPy's save() files (`Predict.dump_state()`). */
const PREDICTOR_STATE_KEYS = ["traces", "train", "demos", "signature", "lm", "fields"];
/** What DSPy's `Predict.load_state` always reads: a file without them does not load in plain DSPy. */
const REQUIRED_PREDICTOR_KEYS = ["signature", "lm"];

/**
 * The worker's import rules (bridge-py/dspy_bridge/state_io.py and predictor_state.py) in TypeScript,
 * for the in-process adapter: what plain DSPy's `load_state` takes for this program's predictors
 * (demos with any keys), but every predictor and no other, `signature` and `lm` present, `lm` null, and
 * a signature with one `{prefix, description}` per field. Issues rooted at `state`; the compiled state
 * has each predictor's left-out arrays filled in, as DSPy's would.
 */
export function checkImportedState(program: NormalizedProgram, state: unknown): { issues: IssueDetail[]; compiledState: Record<string, unknown>; predictors: string[] } {
  const issues: IssueDetail[] = [];
  const issue = (segs: (string | number)[], reason: string) => issues.push({ path: formatPath("state", segs), reason });
  const predictors = new Map(Object.entries(program.modules).map(([name, module]) => [predictorName(name, module), module] as const));
  const compiledState: Record<string, unknown> = {};
  if (state === null || typeof state !== "object" || Array.isArray(state)) {
    issue([], "must be the JSON object DSPy's save() writes");
    return { issues, compiledState, predictors: [...predictors.keys()] };
  }
  const saved = state as Record<string, unknown>;
  if (Object.hasOwn(saved, "metadata")) {
    const metadata = saved.metadata;
    if (!isObject(metadata) || (Object.hasOwn(metadata, "dependency_versions") && !isObject(metadata.dependency_versions))) {
      issue(["metadata"], "must be an object with dependency_versions");
    }
  }
  for (const name of Object.keys(saved)) {
    if (name !== "metadata" && !predictors.has(name)) issue([name], `no predictor named '${name}' (predictors: ${[...predictors.keys()].join(", ")})`);
  }
  for (const [name, module] of predictors) {
    if (!Object.hasOwn(saved, name)) {
      issue([name], "the program's predictor is missing");
      continue;
    }
    const value = saved[name];
    if (!isObject(value)) {
      issue([name], "a predictor's state must be an object");
      continue;
    }
    for (const key of Object.keys(value)) {
      if (!PREDICTOR_STATE_KEYS.includes(key)) issue([name, key], `unknown key '${key}' in a predictor's state (expected ${PREDICTOR_STATE_KEYS.join(", ")})`);
    }
    for (const key of REQUIRED_PREDICTOR_KEYS) if (!Object.hasOwn(value, key)) issue([name, key], "is missing");
    if (value.lm !== null && value.lm !== undefined) issue([name, "lm"], "must be null: the LM is chosen per execution, never stored with a version");
    for (const key of ["demos", "traces", "train"]) if (Object.hasOwn(value, key) && !Array.isArray(value[key])) issue([name, key], `${key} must be an array`);
    (Array.isArray(value.demos) ? value.demos : []).forEach((demo: unknown, i: number) => {
      if (!isObject(demo)) issue([name, "demos", i], "a demo must be an object of field values");
    });
    if (Object.hasOwn(value, "fields") && !isObject(value.fields)) issue([name, "fields"], "fields must be an object (DSPy's settings per output field)");
    if (Object.hasOwn(value, "signature")) checkSignature(value.signature, fieldCount(module), [name, "signature"], issue);
    compiledState[name] = { traces: [], train: [], demos: [], ...value, lm: null };
  }
  return { issues, compiledState, predictors: [...predictors.keys()] };
}

function checkSignature(signature: unknown, count: number, segs: (string | number)[], issue: (segs: (string | number)[], reason: string) => void): void {
  if (!isObject(signature)) return void issue(segs, "signature must be an object with instructions and fields");
  if (typeof signature.instructions !== "string") issue([...segs, "instructions"], "instructions must be a string");
  const fields = signature.fields;
  if (!Array.isArray(fields)) return void issue([...segs, "fields"], "fields must be an array");
  if (fields.length !== count) issue([...segs, "fields"], `has ${fields.length} fields but the signature has ${count}`);
  fields.forEach((field: unknown, i: number) => {
    if (!isObject(field) || typeof field.prefix !== "string" || typeof field.description !== "string") {
      issue([...segs, "fields", i], "a field's state must be an object with string prefix and description");
    }
  });
}

/** A predictor's name as DSPy's named_predictors() gives it (PROTOCOL.md "Programs"). */
export function predictorName(name: string, module: ModuleSpec): string {
  return predictorPaths(name, module)[0] ?? name;
}

/** Fields of the predictor's signature: ChainOfThought's adds `reasoning`. */
function fieldCount(module: ModuleSpec): number {
  return Object.keys(module.signature.inputs).length + Object.keys(module.signature.outputs).length + (module.type === "ChainOfThought" ? 1 : 0);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
