import { DEFINITION_LIMITS as LIMITS, type Binding, type FieldSpec, type FieldType, type Step } from "./types.js";
import { collectValueIssues, formatFieldType, inferLiteralType, typesEqual } from "./fieldTypes.js";
import { nameProblem } from "./names.js";
import { describeValue, formatList, isObject, quote, setOwn, type Seg } from "./format.js";
import type { Add, Fields, ModuleInfo } from "./declarations.js";

interface Scope {
  inputs: Fields | undefined;
  modules: Map<string, ModuleInfo> | undefined;
  /** The first step index that declares each `as` name, to tell "defined later" from "not defined". */
  asIndex: Map<string, number>;
  /** Steps before the current one, by `as` name. */
  defined: Map<string, { moduleName?: string; module?: ModuleInfo }>;
  index: number;
}

const CALL_KEYS = ["call", "with", "as"];
const REFERENCE = /^\$([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*)$/;

/** Checks the steps in order; every reference must resolve to something an earlier step defined. */
export function parseForward(
  value: unknown,
  inputs: Fields | undefined,
  modules: Map<string, ModuleInfo> | undefined,
  add: Add,
): { steps: Step[]; outputs: Record<string, FieldSpec> } | undefined {
  if (!Array.isArray(value)) {
    add(["forward"], `forward must be an array of steps, got ${describeValue(value)}`);
    return undefined;
  }
  if (value.length === 0) {
    add(["forward"], "forward is empty: it needs at least a return step");
    return undefined;
  }
  if (value.length > LIMITS.maxSteps) add(["forward"], `forward has ${value.length} steps; the limit is ${LIMITS.maxSteps}`);

  const asIndex = new Map<string, number>();
  value.forEach((step: unknown, i) => {
    if (isObject(step) && Object.hasOwn(step, "as") && typeof step["as"] === "string" && !asIndex.has(step["as"])) asIndex.set(step["as"], i);
  });
  const scope: Scope = { inputs, modules, asIndex, defined: new Map(), index: 0 };
  const steps: Step[] = [];
  const returns: number[] = [];
  let outputs: Record<string, FieldSpec> | undefined;
  value.forEach((step: unknown, i) => {
    scope.index = i;
    const segs: Seg[] = ["forward", i];
    if (!isObject(step)) {
      add(segs, `step must be an object ({ "call", "with", "as" } or { "return" }), got ${describeValue(step)}`);
      return;
    }
    const isCall = Object.hasOwn(step, "call");
    const isReturn = Object.hasOwn(step, "return");
    if (isCall && isReturn) {
      add(segs, "a step has either 'call' (with 'with' and 'as') or 'return', not both");
    } else if (isReturn) {
      returns.push(i);
      const parsed = parseReturnStep(step, segs, scope, add);
      if (parsed) {
        steps.push({ return: parsed.bindings });
        outputs = parsed.outputs;
      }
    } else if (isCall) {
      const parsed = parseCallStep(step, segs, scope, add);
      if (parsed) steps.push(parsed);
    } else {
      add(segs, `step must have 'call' (with 'with' and 'as') or 'return'; it has ${formatList(Object.keys(step).map((k) => quote(k)))}`);
    }
  });

  const last = value.length - 1;
  if (returns.length === 0) add(["forward"], `return missing: the last step must be { "return": { ... } }`);
  for (const i of returns) {
    if (i === last) continue;
    if (returns.length > 1) {
      add(["forward", i], `more than one return step (at ${returns.map((r) => `forward[${r}]`).join(", ")}); a program has exactly one, as its last step`);
    } else {
      add(["forward", i], `return must be the last step, but ${last - i} step(s) follow it`);
    }
  }
  return outputs ? { steps, outputs } : undefined;
}

function parseCallStep(step: Record<string, unknown>, segs: Seg[], scope: Scope, add: Add): Step | undefined {
  for (const key of Object.keys(step)) {
    if (!CALL_KEYS.includes(key)) add([...segs, key], `unknown key ${quote(key)} in call step (expected call, with, as)`);
  }
  for (const key of CALL_KEYS) {
    if (!Object.hasOwn(step, key)) add(segs, `missing required key '${key}' in call step`);
  }

  let moduleName: string | undefined;
  const call = step["call"];
  if (typeof call !== "string") add([...segs, "call"], `call must be a module name, got ${describeValue(call)}`);
  else if (scope.modules && !scope.modules.has(call)) {
    add([...segs, "call"], `no module named ${quote(call)} (modules: ${formatList(scope.modules.keys())})`);
  } else moduleName = call;
  const module = moduleName === undefined ? undefined : scope.modules?.get(moduleName);

  const bindings = Object.hasOwn(step, "with") ? parseWith(step["with"], [...segs, "with"], moduleName, module, scope, add) : undefined;

  let asName: string | undefined;
  if (Object.hasOwn(step, "as")) {
    const as = step["as"];
    if (typeof as !== "string") add([...segs, "as"], `as must be a step name, got ${describeValue(as)}`);
    else {
      const problem = nameProblem(as, "step name", "step");
      if (problem) add([...segs, "as"], problem);
      const first = scope.asIndex.get(as);
      if (first !== undefined && first !== scope.index) add([...segs, "as"], `step name ${quote(as)} is already used by forward[${first}]`);
      else {
        // Defined after its own bindings, so a step cannot reference itself.
        scope.defined.set(as, { ...(moduleName === undefined ? {} : { moduleName }), ...(module === undefined ? {} : { module }) });
        asName = as;
      }
    }
  }
  if (moduleName === undefined || bindings === undefined || asName === undefined) return undefined;
  return { call: moduleName, with: bindings, as: asName };
}

function parseWith(
  value: unknown,
  segs: Seg[],
  moduleName: string | undefined,
  module: ModuleInfo | undefined,
  scope: Scope,
  add: Add,
): Record<string, Binding> | undefined {
  if (!isObject(value)) {
    add(segs, `with must be an object mapping the module's inputs to bindings, got ${describeValue(value)}`);
    return undefined;
  }
  const inputs = module?.inputs;
  const bindings: Record<string, Binding> = {};
  for (const key of Object.keys(value)) {
    const target = inputs?.get(key);
    if (inputs && !inputs.has(key)) {
      add([...segs, key], `module ${quote(moduleName ?? "")} has no input ${quote(key)} (inputs: ${formatList(inputs.keys())})`);
    }
    const expected = target ? { type: target.type, label: `${moduleName}.${key}` } : undefined;
    const parsed = parseBinding(value[key], [...segs, key], expected, scope, add);
    if (parsed) setOwn(bindings, key, parsed.binding);
  }
  for (const name of inputs?.keys() ?? []) {
    if (!Object.hasOwn(value, name)) add(segs, `required input ${quote(name)} of module ${quote(moduleName ?? "")} is not bound`);
  }
  return bindings;
}

function parseReturnStep(
  step: Record<string, unknown>,
  segs: Seg[],
  scope: Scope,
  add: Add,
): { bindings: Record<string, Binding>; outputs: Record<string, FieldSpec> } | undefined {
  for (const key of Object.keys(step)) {
    if (key !== "return") add([...segs, key], `unknown key ${quote(key)} in return step (a return step has only 'return')`);
  }
  const value = step["return"];
  const rsegs: Seg[] = [...segs, "return"];
  if (!isObject(value)) {
    add(rsegs, `return must be an object mapping output names to bindings, got ${describeValue(value)}`);
    return undefined;
  }
  const keys = Object.keys(value);
  if (keys.length === 0) add(rsegs, "return must name at least one output");
  if (keys.length > LIMITS.maxFieldsPerSignature) add(rsegs, `${keys.length} outputs; the limit is ${LIMITS.maxFieldsPerSignature}`);
  const bindings: Record<string, Binding> = {};
  const outputs: Record<string, FieldSpec> = {};
  for (const key of keys) {
    const problem = nameProblem(key, "output name");
    if (problem) add([...rsegs, key], problem);
    const parsed = parseBinding(value[key], [...rsegs, key], "infer", scope, add);
    if (!parsed) continue;
    setOwn(bindings, key, parsed.binding);
    if (parsed.type) setOwn(outputs, key, { type: parsed.type });
  }
  return { bindings, outputs };
}

/**
 * A binding is a reference ("$input.x", "$step.field") or a literal ("$$..." is a literal starting with "$").
 * `expected`: the target input's type, "infer" for return bindings, undefined when the target is unknown.
 */
function parseBinding(
  value: unknown,
  segs: Seg[],
  expected: { type: FieldType; label: string } | "infer" | undefined,
  scope: Scope,
  add: Add,
): { binding: Binding; type?: FieldType } | undefined {
  if (typeof value === "string" && value.startsWith("$") && !value.startsWith("$$")) {
    const ref = resolveReference(value, segs, scope, add);
    if (!ref) return undefined;
    if (ref.type && expected && expected !== "infer" && !typesEqual(ref.type, expected.type)) {
      add(segs, `${quote(value)} is ${formatFieldType(ref.type)} but ${expected.label} expects ${formatFieldType(expected.type)}`);
    }
    return { binding: { ref: { step: ref.step, field: ref.field } }, ...(ref.type ? { type: ref.type } : {}) };
  }
  const literal = typeof value === "string" ? (value.startsWith("$$") ? value.slice(1) : value) : cloneJson(value);
  if (expected === "infer") {
    const inferred = inferLiteralType(literal);
    if (!inferred.ok) {
      add(segs, inferred.reason);
      return undefined;
    }
    return { binding: { literal }, type: inferred.type };
  }
  if (expected) {
    collectValueIssues(literal, expected.type, segs, (at, reason) => add(at, `literal for ${expected.label}: ${reason}`));
  }
  return { binding: { literal } };
}

function resolveReference(text: string, segs: Seg[], scope: Scope, add: Add): { step: string; field: string; type?: FieldType } | undefined {
  const match = REFERENCE.exec(text);
  if (!match) {
    add(segs, `malformed reference ${quote(text)} (expected '$input.<field>' or '$<step>.<field>'; write '$$' for a literal starting with '$')`);
    return undefined;
  }
  const step = match[1]!;
  const field = match[2]!;
  if (step === "input") {
    if (!scope.inputs) return { step, field };
    if (!scope.inputs.has(field)) {
      add(segs, `${quote(text)} refers to undeclared program input ${quote(field)} (inputs: ${formatList(scope.inputs.keys())})`);
      return undefined;
    }
    return withType({ step, field }, scope.inputs.get(field));
  }
  const source = scope.defined.get(step);
  if (!source) {
    const at = scope.asIndex.get(step);
    if (at === undefined) add(segs, `${quote(text)}: no step named ${quote(step)}`);
    else if (at > scope.index) add(segs, `${quote(text)} refers to step ${quote(step)} which is defined later (forward[${at}])`);
    else if (at === scope.index) add(segs, `${quote(text)} refers to this step's own result`);
    // else: an earlier step with this name that was itself invalid and already reported
    return undefined;
  }
  const outputs = source.module ? outputFields(source.module) : undefined;
  if (!outputs) return { step, field };
  if (!outputs.has(field)) {
    const hint = field === "reasoning" ? "; only ChainOfThought adds 'reasoning'" : "";
    add(segs, `${quote(text)}: module ${quote(source.moduleName ?? "")} (step ${quote(step)}) has no output ${quote(field)} (outputs: ${formatList(outputs.keys())}${hint})`);
    return undefined;
  }
  return withType({ step, field }, outputs.get(field));
}

function withType<T extends object>(ref: T, spec: FieldSpec | null | undefined): T & { type?: FieldType } {
  return spec ? { ...ref, type: spec.type } : ref;
}

/** A module's outputs as seen by later steps: ChainOfThought prepends 'reasoning' (str), as in DSPy. */
function outputFields(module: ModuleInfo): Fields | undefined {
  if (!module.outputs) return undefined;
  if (module.type === "Predict") return module.outputs;
  // Unknown module type (already reported): allow 'reasoning' with an unknown type rather than cascade.
  const reasoning: FieldSpec | null = module.type === "ChainOfThought" ? { type: "str" } : null;
  return new Map([["reasoning", reasoning], ...module.outputs]);
}

function cloneJson(value: unknown): unknown {
  const json = JSON.stringify(value);
  return json === undefined ? undefined : JSON.parse(json);
}
