import { DEFINITION_LIMITS as LIMITS, type Binding, type Condition, type FieldSpec, type FieldType, type Step } from "./types.js";
import { collectValueIssues, formatFieldType, inferLiteralType, parseFieldType, typesEqual } from "./fieldTypes.js";
import { nameProblem } from "./names.js";
import { describeValue, formatList, formatPath, isObject, quote, setOwn, type Seg } from "./format.js";
import { addedOutputs, innerEntry, type Add, type Fields, type ModuleInfo } from "./declarations.js";

/** What a name visible to a reference stands for: its fields (undefined: unknown, already reported). */
interface Source {
  fields: Fields | undefined;
  /** For messages: "module 'generate' (step 'gen')", "map 'answers'", … */
  label: string;
  module?: ModuleInfo;
}

interface Scope {
  inputs: Fields | undefined;
  modules: Map<string, ModuleInfo> | undefined;
  /** Every `as` name in document order: its position and path, for "defined later" and duplicates. */
  declared: Map<string, { order: number; path: string }>;
  /** The position of the step being checked, in the same order. */
  order: { current: number };
  /** Names visible here. Blocks get a copy: what a block's steps define stays inside it. */
  visible: Map<string, Source>;
  depth: number;
  steps: { count: number };
}

type BlockKind = "program" | "map" | "if" | "loop";

const CALL_KEYS = ["call", "with", "as"];
const STEP_KINDS = ["call", "return", "map", "loop", "if"];
const REFERENCE = /^\$([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*)$/;
const STEP_SHAPES = `{ "call", "with", "as" }, { "return" }, { "map" }, { "loop" } or { "if" }`;

/** Checks the steps in order; every reference must resolve to something an earlier step defined. */
export function parseForward(
  value: unknown,
  inputs: Fields | undefined,
  modules: Map<string, ModuleInfo> | undefined,
  add: Add,
): { steps: Step[]; outputs: Record<string, FieldSpec> } | undefined {
  const declared = new Map<string, { order: number; path: string }>();
  collectNames(value, ["forward"], declared, { n: 0 });
  const scope: Scope = { inputs, modules, declared, order: { current: -1 }, visible: new Map(), depth: 0, steps: { count: 0 } };
  const block = parseSteps(value, ["forward"], scope, "program", add);
  if (scope.steps.count > LIMITS.maxSteps) add(["forward"], `forward has ${scope.steps.count} steps; the limit is ${LIMITS.maxSteps}`);
  return block?.outputs ? { steps: block.steps, outputs: block.outputs } : undefined;
}

/** Pre-pass: every `as` name with its document position, so a reference can say "defined later". */
function collectNames(list: unknown, segs: Seg[], into: Map<string, { order: number; path: string }>, n: { n: number }): void {
  if (!Array.isArray(list)) return;
  list.forEach((step: unknown, i) => {
    const order = n.n++;
    if (!isObject(step)) return;
    const as = step["as"];
    if (typeof as === "string" && !into.has(as)) into.set(as, { order, path: formatPath("", [...segs, i]).slice(1) });
    for (const key of ["steps", "then", "else"]) if (Object.hasOwn(step, key)) collectNames(step[key], [...segs, i, key], into, n);
  });
}

function parseSteps(
  value: unknown,
  segs: Seg[],
  scope: Scope,
  kind: BlockKind,
  add: Add,
): { steps: Step[]; outputs?: Record<string, FieldSpec> } | undefined {
  const where = formatPath("", segs).slice(1);
  if (!Array.isArray(value)) {
    add(segs, `${where} must be an array of steps, got ${describeValue(value)}`);
    return undefined;
  }
  const needsReturn = kind !== "loop";
  if (value.length === 0) {
    add(segs, needsReturn ? `${where} is empty: it needs at least a return step` : `${where} is empty: a loop needs at least one step`);
    return undefined;
  }
  scope.steps.count += value.length;
  const steps: Step[] = [];
  const returns: number[] = [];
  let outputs: Record<string, FieldSpec> | undefined;
  value.forEach((step: unknown, i) => {
    scope.order.current++;
    const ssegs: Seg[] = [...segs, i];
    if (!isObject(step)) {
      add(ssegs, `step must be an object (${STEP_SHAPES}), got ${describeValue(step)}`);
      return;
    }
    const kinds = STEP_KINDS.filter((k) => Object.hasOwn(step, k));
    if (kinds.length > 1) {
      add(ssegs, kinds.includes("call") && kinds.includes("return") && kinds.length === 2 ? "a step has either 'call' (with 'with' and 'as') or 'return', not both" : `a step is one of ${STEP_SHAPES}; this one has ${kinds.map((k) => quote(k)).join(" and ")}`);
      return;
    }
    const stepKind = kinds[0];
    if (stepKind === undefined) {
      add(ssegs, `step must have 'call' (with 'with' and 'as'), 'return', 'map', 'loop' or 'if'; it has ${formatList(Object.keys(step).map((k) => quote(k)))}`);
      return;
    }
    if (stepKind === "return") {
      returns.push(i);
      if (!needsReturn) {
        add(ssegs, "a loop's steps have no return: the loop's results are its vars (set and append)");
        return;
      }
      const parsed = parseReturnStep(step, ssegs, scope, add);
      if (parsed) {
        steps.push({ return: parsed.bindings });
        outputs = parsed.outputs;
      }
      return;
    }
    const parsed =
      stepKind === "call" ? parseCallStep(step, ssegs, scope, add) : parseBlockStep(stepKind as "map" | "loop" | "if", step, ssegs, scope, add);
    if (parsed) steps.push(parsed);
  });

  if (!needsReturn) return { steps };
  const last = value.length - 1;
  if (returns.length === 0) add(segs, `return missing: the last step ${kind === "program" ? "" : `of ${where} `}must be { "return": { ... } }`);
  for (const i of returns) {
    if (i === last) continue;
    if (returns.length > 1) {
      add([...segs, i], `more than one return step (at ${returns.map((r) => `${where}[${r}]`).join(", ")}); ${kind === "program" ? "a program" : "a block"} has exactly one, as its last step`);
    } else {
      add([...segs, i], `return must be the last step, but ${last - i} step(s) follow it`);
    }
  }
  return outputs ? { steps, outputs } : { steps };
}

/** Checks a step's `as` name and makes it visible (after the step's own bindings: no step references itself). */
function declareAs(step: Record<string, unknown>, segs: Seg[], scope: Scope, add: Add): string | undefined {
  if (!Object.hasOwn(step, "as")) return undefined;
  const as = step["as"];
  if (typeof as !== "string") {
    add([...segs, "as"], `as must be a step name, got ${describeValue(as)}`);
    return undefined;
  }
  const problem = nameProblem(as, "step name", "step");
  if (problem) add([...segs, "as"], problem);
  const first = scope.declared.get(as);
  if (first !== undefined && first.order !== scope.order.current) {
    add([...segs, "as"], `step name ${quote(as)} is already used by ${first.path}`);
    return undefined;
  }
  return problem ? undefined : as;
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
  const as = declareAs(step, segs, scope, add);
  if (as !== undefined) {
    scope.visible.set(as, { fields: module ? outputFields(module) : undefined, label: `module ${quote(moduleName ?? "")} (step ${quote(as)})`, ...(module ? { module } : {}) });
  }
  if (moduleName === undefined || bindings === undefined || as === undefined) return undefined;
  return { call: moduleName, with: bindings, as };
}

function parseBlockStep(kind: "map" | "loop" | "if", step: Record<string, unknown>, segs: Seg[], scope: Scope, add: Add): Step | undefined {
  const keys = kind === "map" ? ["map", "as", "parallel", "steps"] : kind === "loop" ? ["loop", "as", "vars", "steps", "set", "append"] : ["if", "as", "then", "else"];
  for (const key of Object.keys(step)) if (!keys.includes(key)) add([...segs, key], `unknown key ${quote(key)} in ${kind} step (expected ${keys.join(", ")})`);
  const required = kind === "map" ? ["as", "steps"] : kind === "loop" ? ["as", "steps"] : ["as", "then", "else"];
  for (const key of required) if (!Object.hasOwn(step, key)) add(segs, `missing required key '${key}' in ${kind} step`);
  if (scope.depth >= LIMITS.maxBlockNesting) {
    add(segs, `map, loop and if nest ${scope.depth + 1} deep here; the limit is ${LIMITS.maxBlockNesting}`);
    return undefined;
  }
  if (kind === "map") return parseMap(step, segs, scope, add);
  if (kind === "loop") return parseLoop(step, segs, scope, add);
  return parseIf(step, segs, scope, add);
}

function inner(scope: Scope, extra?: [string, Source]): Scope {
  const visible = new Map(scope.visible);
  if (extra) visible.set(...extra);
  return { ...scope, visible, depth: scope.depth + 1 };
}

function parseMap(step: Record<string, unknown>, segs: Seg[], scope: Scope, add: Add): Step | undefined {
  const over = parseBinding(step["map"], [...segs, "map"], "infer", scope, add);
  let item: FieldType | undefined;
  if (over?.type !== undefined) {
    if (typeof over.type === "object" && "list" in over.type) item = over.type.list;
    else add([...segs, "map"], `map runs over a list, but this is ${formatFieldType(over.type)}`);
  }
  let parallel = 1;
  if (Object.hasOwn(step, "parallel")) {
    const p = step["parallel"];
    if (typeof p !== "number" || !Number.isInteger(p) || p < 1 || p > LIMITS.maxParallel) add([...segs, "parallel"], `parallel must be an integer from 1 to ${LIMITS.maxParallel}`);
    else parallel = p;
  }
  const as = declareAs(step, segs, scope, add);
  const itemFields: Fields = new Map([["item", item ? { type: item } : null], ["index", { type: "int" }]]);
  const body = parseSteps(step["steps"], [...segs, "steps"], inner(scope, [as ?? "", { fields: itemFields, label: `map ${quote(as ?? "")} (inside it)` }]), "map", add);
  if (as === undefined) return undefined;
  const outputs = body?.outputs ? new Map(Object.entries(body.outputs).map(([k, v]) => [k, { type: { list: v.type } } as FieldSpec])) : undefined;
  scope.visible.set(as, { fields: outputs, label: `map ${quote(as)}` });
  if (!over || !body?.outputs || item === undefined) return undefined;
  return { map: over.binding, as, parallel, steps: body.steps };
}

function parseLoop(step: Record<string, unknown>, segs: Seg[], scope: Scope, add: Add): Step | undefined {
  const loop = step["loop"];
  let max: number | undefined;
  let untilRaw: unknown;
  if (!isObject(loop)) add([...segs, "loop"], `loop must be an object { "max": n, "until"?: { "field", "equals" } }, got ${describeValue(loop)}`);
  else {
    for (const key of Object.keys(loop)) if (key !== "max" && key !== "until") add([...segs, "loop", key], `unknown key ${quote(key)} in loop (expected max, until)`);
    const m = loop["max"];
    if (typeof m !== "number" || !Number.isInteger(m) || m < 1 || m > LIMITS.maxLoopRounds) add([...segs, "loop", "max"], `max must be an integer from 1 to ${LIMITS.maxLoopRounds}`);
    else max = m;
    untilRaw = loop["until"];
  }
  const vars = parseVars(Object.hasOwn(step, "vars") ? step["vars"] : {}, [...segs, "vars"], scope, add);
  const as = declareAs(step, segs, scope, add);
  const body = inner(scope, [as ?? "", { fields: vars?.fields, label: `loop ${quote(as ?? "")}` }]);
  const parsed = parseSteps(step["steps"], [...segs, "steps"], body, "loop", add);
  const set = parseUpdates(step["set"], [...segs, "set"], "set", vars?.fields, body, add);
  const append = parseUpdates(step["append"], [...segs, "append"], "append", vars?.fields, body, add);
  const until = untilRaw === undefined ? undefined : parseCondition(untilRaw, [...segs, "loop", "until"], body, add);
  if (as === undefined) return undefined;
  scope.visible.set(as, { fields: vars?.fields, label: `loop ${quote(as)}` });
  if (max === undefined || !vars?.specs || !parsed || !set || !append || (untilRaw !== undefined && !until)) return undefined;
  return { loop: { max, ...(until ? { until } : {}) }, as, vars: vars.specs, steps: parsed.steps, set: set.set, append: append.append, extend: append.extend };
}

function parseVars(value: unknown, segs: Seg[], scope: Scope, add: Add): { fields: Fields; specs?: Record<string, { type: FieldType; value: Binding }> } | undefined {
  if (!isObject(value)) {
    add(segs, `vars must map names to { "type", "value" }, got ${describeValue(value)}`);
    return undefined;
  }
  const fields: Fields = new Map();
  const specs: Record<string, { type: FieldType; value: Binding }> = {};
  let ok = true;
  for (const [name, spec] of Object.entries(value)) {
    const vsegs = [...segs, name];
    const problem = nameProblem(name, "loop var name");
    if (problem) add(vsegs, problem);
    if (!isObject(spec) || typeof spec["type"] !== "string" || !Object.hasOwn(spec, "value")) {
      add(vsegs, `a loop var is { "type": "list[str]", "value": [] }, got ${describeValue(spec)}`);
      fields.set(name, null);
      ok = false;
      continue;
    }
    for (const key of Object.keys(spec)) if (key !== "type" && key !== "value") add([...vsegs, key], `unknown key ${quote(key)} in loop var (expected type, value)`);
    const parsed = parseFieldType(spec["type"]);
    if (!parsed.ok) {
      add([...vsegs, "type"], parsed.reason);
      fields.set(name, null);
      ok = false;
      continue;
    }
    fields.set(name, { type: parsed.type });
    const initial = parseBinding(spec["value"], [...vsegs, "value"], { type: parsed.type, label: `loop var ${name}` }, scope, add);
    if (!initial || problem) ok = false;
    else setOwn(specs, name, { type: parsed.type, value: initial.binding });
  }
  return ok ? { fields, specs } : { fields };
}

/** `set` replaces a var; `append` adds one element or, given a list of the var's type, extends it (kept apart as `extend`). */
function parseUpdates(
  value: unknown,
  segs: Seg[],
  how: "set" | "append",
  vars: Fields | undefined,
  scope: Scope,
  add: Add,
): { set: Record<string, Binding>; append: Record<string, Binding>; extend: Record<string, Binding> } | undefined {
  const out = { set: {} as Record<string, Binding>, append: {} as Record<string, Binding>, extend: {} as Record<string, Binding> };
  if (value === undefined) return out;
  if (!isObject(value)) {
    add(segs, `${how} must map loop vars to bindings, got ${describeValue(value)}`);
    return undefined;
  }
  let ok = true;
  for (const [name, raw] of Object.entries(value)) {
    const usegs = [...segs, name];
    if (vars && !vars.has(name)) {
      add(usegs, `${quote(name)} is not a var of this loop (vars: ${formatList(vars.keys())})`);
      ok = false;
      continue;
    }
    const type = vars?.get(name)?.type;
    let expected: { type: FieldType; label: string } | "infer" | undefined;
    if (type !== undefined && how === "set") expected = { type, label: `loop var ${name}` };
    else if (type !== undefined) {
      if (typeof type !== "object" || !("list" in type)) {
        add(usegs, `append needs a list var, but ${name} is ${formatFieldType(type)}`);
        ok = false;
        continue;
      }
      expected = "infer";
    }
    const parsed = parseBinding(raw, usegs, expected, scope, add);
    if (!parsed) {
      ok = false;
      continue;
    }
    let into = out.set;
    if (how === "append" && type !== undefined && typeof type === "object" && "list" in type && parsed.type !== undefined) {
      if (typesEqual(parsed.type, type)) into = out.extend;
      else if (typesEqual(parsed.type, type.list)) into = out.append;
      else {
        add(usegs, `appends ${formatFieldType(parsed.type)} to ${name}, which is ${formatFieldType(type)} (append a ${formatFieldType(type.list)} or a ${formatFieldType(type)})`);
        ok = false;
        continue;
      }
    }
    setOwn(into, name, parsed.binding);
  }
  return ok ? out : undefined;
}

/** `{ "field": "$step.f", "equals": value }` on a bool or enum field. */
function parseCondition(value: unknown, segs: Seg[], scope: Scope, add: Add): Condition | undefined {
  if (!isObject(value) || !Object.hasOwn(value, "field") || !Object.hasOwn(value, "equals")) {
    add(segs, `a condition is { "field": "$step.field", "equals": value }, got ${describeValue(value)}`);
    return undefined;
  }
  for (const key of Object.keys(value)) if (key !== "field" && key !== "equals") add([...segs, key], `unknown key ${quote(key)} in condition (expected field, equals)`);
  const field = value["field"];
  if (typeof field !== "string" || !field.startsWith("$") || field.startsWith("$$")) {
    add([...segs, "field"], `field must be a reference like '$step.field', got ${describeValue(field)}`);
    return undefined;
  }
  const ref = resolveReference(field, [...segs, "field"], scope, add);
  if (!ref) return undefined;
  const equals = value["equals"];
  if (ref.type !== undefined) {
    const isBool = ref.type === "bool";
    const isEnum = typeof ref.type === "object" && "enum" in ref.type;
    if (!isBool && !isEnum) {
      add([...segs, "field"], `a condition tests a bool or enum field, but ${quote(field)} is ${formatFieldType(ref.type)}`);
      return undefined;
    }
    const before = add.count();
    collectValueIssues(equals, ref.type, [...segs, "equals"], (at, reason) => add(at, `equals: ${reason}`));
    if (add.count() !== before) return undefined;
  }
  if (typeof equals !== "string" && typeof equals !== "number" && typeof equals !== "boolean") return undefined;
  return { ref: { step: ref.step, field: ref.field }, equals };
}

function parseIf(step: Record<string, unknown>, segs: Seg[], scope: Scope, add: Add): Step | undefined {
  const condition = Object.hasOwn(step, "if") ? parseCondition(step["if"], [...segs, "if"], scope, add) : undefined;
  if (!Object.hasOwn(step, "if")) add(segs, "missing required key 'if' in if step");
  const as = declareAs(step, segs, scope, add);
  const then = parseSteps(step["then"], [...segs, "then"], inner(scope), "if", add);
  const otherwise = parseSteps(step["else"], [...segs, "else"], inner(scope), "if", add);
  let outputs: Fields | undefined;
  if (then?.outputs && otherwise?.outputs) {
    const a = then.outputs;
    const b = otherwise.outputs;
    const same = Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => Object.hasOwn(b, k) && typesEqual(v.type, b[k]!.type));
    if (!same) {
      const describe = (o: Record<string, FieldSpec>) => Object.entries(o).map(([k, v]) => `${k}: ${formatFieldType(v.type)}`).join(", ");
      add([...segs, "else"], `both branches must return the same outputs: then returns { ${describe(a)} }, else returns { ${describe(b)} }`);
    } else outputs = new Map(Object.entries(a));
  }
  if (as === undefined) return undefined;
  scope.visible.set(as, { fields: outputs, label: `if ${quote(as)}` });
  if (!condition || !then || !otherwise || !outputs) return undefined;
  return { if: condition, as, then: then.steps, else: otherwise.steps };
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
 * `expected`: the target's type, "infer" for return bindings, undefined when the target is unknown.
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
  return { binding: { literal }, ...(expected ? { type: expected.type } : {}) };
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
  const source = scope.visible.get(step);
  if (!source) {
    const at = scope.declared.get(step);
    if (at === undefined) add(segs, `${quote(text)}: no step named ${quote(step)}`);
    else if (at.order > scope.order.current) add(segs, `${quote(text)} refers to step ${quote(step)} which is defined later (${at.path})`);
    else if (at.order === scope.order.current) add(segs, `${quote(text)} refers to this step's own result`);
    else add(segs, `${quote(text)}: step ${quote(step)} (${at.path}) is inside a map, loop or if branch that has ended; use that block's own result`);
    return undefined;
  }
  const outputs = source.fields;
  if (!outputs) return { step, field };
  if (!outputs.has(field)) {
    const hint = field === "reasoning" ? "; only ChainOfThought adds 'reasoning'" : "";
    add(segs, `${quote(text)}: ${source.label} has no output ${quote(field)} (outputs: ${formatList(outputs.keys())}${hint})`);
    return undefined;
  }
  return withType({ step, field }, outputs.get(field));
}

function withType<T extends object>(ref: T, spec: FieldSpec | null | undefined): T & { type?: FieldType } {
  return spec ? { ...ref, type: spec.type } : ref;
}

/** A module's outputs as seen by later steps: what its type adds (ChainOfThought's reasoning…) first, as in DSPy. */
function outputFields(module: ModuleInfo): Fields | undefined {
  if (!module.outputs) return undefined;
  if (!module.entry) {
    // Unknown module type (already reported): allow 'reasoning' with an unknown type rather than cascade.
    return new Map([["reasoning", null], ...module.outputs]);
  }
  if (module.entry.wraps && !innerEntry(module)) return undefined;
  const added = addedOutputs(module.entry, module.config);
  return new Map([...added.map((a): [string, FieldSpec] => [a.name, { type: a.type }]), ...module.outputs]);
}

function cloneJson(value: unknown): unknown {
  const json = JSON.stringify(value);
  return json === undefined ? undefined : JSON.parse(json);
}
