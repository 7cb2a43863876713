import { DEFINITION_LIMITS as LIMITS, type FieldSpec, type FieldType, type ModuleType } from "./types.js";
import { enumProblems, parseFieldType } from "./fieldTypes.js";
import { parseCompactSignature } from "./compactSignature.js";
import { nameProblem } from "./names.js";
import { dspyFieldNameProblem, dspyProgramInputProblem } from "./dspyNames.js";
import { describeValue, isObject, quote, type Seg } from "./format.js";

/** Records an issue at a path relative to the definition root. */
export type Add = (segs: readonly Seg[], reason: string) => void;

/** Declared fields; null marks a field whose spec was invalid (already reported), so its type is unknown. */
export type Fields = Map<string, FieldSpec | null>;

/** What is known of a module; a missing part was invalid (already reported), so checks that need it are skipped. */
export interface ModuleInfo {
  type?: ModuleType;
  instructions?: string;
  inputs?: Fields;
  outputs?: Fields;
}

const FIELD_KEYS = ["type", "desc", "values"];
const MODULE_KEYS = ["type", "signature"];
const SIGNATURE_KEYS = ["instructions", "inputs", "outputs"];

export function parseFields(value: unknown, segs: Seg[], what: string, add: Add): Fields | undefined {
  if (!isObject(value)) {
    add(segs, `${what}s must be an object mapping field names to types, got ${describeValue(value)}`);
    return undefined;
  }
  const fields: Fields = new Map();
  for (const key of Object.keys(value)) {
    const problem = nameProblem(key, `${what} name`) ?? (what === "program input" ? dspyProgramInputProblem(key) : undefined);
    if (problem) add([...segs, key], problem);
    fields.set(key, parseFieldSpec(value[key], [...segs, key], add) ?? null);
  }
  return fields;
}

/** A field spec: a type string ("list[str]") or { type, desc?, values? }. */
function parseFieldSpec(value: unknown, segs: Seg[], add: Add): FieldSpec | undefined {
  if (typeof value === "string") {
    if (value.trim() === "enum") {
      add(segs, `an enum needs values: write { "type": "enum", "values": [...] }`);
      return undefined;
    }
    const parsed = parseFieldType(value);
    if (parsed.ok) return { type: parsed.type };
    add(segs, parsed.reason);
    return undefined;
  }
  if (!isObject(value)) {
    add(segs, `field must be a type string like "str" or an object like { "type": "str" }, got ${describeValue(value)}`);
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (!FIELD_KEYS.includes(key)) add([...segs, key], `unknown key ${quote(key)} in field (expected ${FIELD_KEYS.join(", ")})`);
  }
  let desc: string | undefined;
  if (Object.hasOwn(value, "desc")) {
    const d = value["desc"];
    if (typeof d !== "string") add([...segs, "desc"], `desc must be a string, got ${describeValue(d)}`);
    else if (d.length > LIMITS.maxDescLength) add([...segs, "desc"], `desc is ${d.length} characters; the limit is ${LIMITS.maxDescLength}`);
    else desc = d;
  }
  if (!Object.hasOwn(value, "type")) {
    add(segs, "missing required key 'type'");
    return undefined;
  }
  const typeText = value["type"];
  if (typeof typeText !== "string") {
    add([...segs, "type"], `type must be a string, got ${describeValue(typeText)}`);
    return undefined;
  }
  let type: FieldType | undefined;
  if (typeText.trim() === "enum") {
    if (Object.hasOwn(value, "values")) type = parseEnumValues(value["values"], [...segs, "values"], add);
    else add(segs, "type 'enum' requires 'values'");
  } else {
    if (Object.hasOwn(value, "values")) add([...segs, "values"], `'values' is only allowed with type 'enum', not ${quote(typeText)}`);
    const parsed = parseFieldType(typeText);
    if (parsed.ok) type = parsed.type;
    else add([...segs, "type"], parsed.reason);
  }
  if (type === undefined) return undefined;
  return desc === undefined ? { type } : { type, desc };
}

function parseEnumValues(values: unknown, segs: Seg[], add: Add): FieldType | undefined {
  if (!Array.isArray(values)) {
    add(segs, `enum values must be an array, got ${describeValue(values)}`);
    return undefined;
  }
  const problems = enumProblems(values);
  for (const p of problems) add(p.index === undefined ? segs : [...segs, p.index], p.reason);
  return problems.length > 0 ? undefined : { enum: [...(values as (string | number | boolean)[])] };
}

export function parseModules(value: unknown, add: Add): Map<string, ModuleInfo> | undefined {
  if (!isObject(value)) {
    add(["modules"], `modules must be an object mapping module names to modules, got ${describeValue(value)}`);
    return undefined;
  }
  const names = Object.keys(value);
  if (names.length === 0) add(["modules"], "at least one module is required");
  if (names.length > LIMITS.maxModules) add(["modules"], `${names.length} modules; the limit is ${LIMITS.maxModules}`);
  const modules = new Map<string, ModuleInfo>();
  for (const name of names) {
    const problem = nameProblem(name, "module name", "module");
    if (problem) add(["modules", name], problem);
    modules.set(name, parseModule(value[name], ["modules", name], add));
  }
  return modules;
}

function parseModule(value: unknown, segs: Seg[], add: Add): ModuleInfo {
  if (!isObject(value)) {
    add(segs, `module must be an object like { "type": "Predict", "signature": "question -> answer" }, got ${describeValue(value)}`);
    return {};
  }
  for (const key of Object.keys(value)) {
    if (!MODULE_KEYS.includes(key)) add([...segs, key], `unknown key ${quote(key)} in module (expected type, signature)`);
  }
  let type: ModuleType | undefined;
  const t = value["type"];
  if (!Object.hasOwn(value, "type")) add(segs, "missing required key 'type'");
  else if (t === "Predict" || t === "ChainOfThought") type = t;
  else add([...segs, "type"], `unknown module type ${typeof t === "string" ? quote(t) : describeValue(t)} (expected Predict or ChainOfThought)`);
  if (!Object.hasOwn(value, "signature")) {
    add(segs, "missing required key 'signature'");
    return type === undefined ? {} : { type };
  }
  return { ...parseSignature(value["signature"], [...segs, "signature"], type, add), ...(type === undefined ? {} : { type }) };
}

function parseSignature(value: unknown, segs: Seg[], moduleType: ModuleType | undefined, add: Add): ModuleInfo {
  const sig: ModuleInfo = {};
  let fieldSegs: (side: "inputs" | "outputs", name: string) => Seg[];
  if (typeof value === "string") {
    const parsed = parseCompactSignature(value);
    if (!parsed.ok) {
      for (const reason of parsed.reasons) add(segs, reason);
      return sig;
    }
    sig.inputs = new Map(parsed.inputs.map((f) => [f.name, { type: f.type }]));
    sig.outputs = new Map(parsed.outputs.map((f) => [f.name, { type: f.type }]));
    fieldSegs = () => segs;
  } else if (isObject(value)) {
    for (const key of Object.keys(value)) {
      if (!SIGNATURE_KEYS.includes(key)) add([...segs, key], `unknown key ${quote(key)} in signature (expected ${SIGNATURE_KEYS.join(", ")})`);
    }
    if (Object.hasOwn(value, "instructions")) {
      const text = value["instructions"];
      if (typeof text !== "string") add([...segs, "instructions"], `instructions must be a string, got ${describeValue(text)}`);
      else if (text.length > LIMITS.maxInstructionsLength) {
        add([...segs, "instructions"], `instructions are ${text.length} characters; the limit is ${LIMITS.maxInstructionsLength}`);
      } else sig.instructions = text;
    }
    for (const side of ["inputs", "outputs"] as const) {
      if (!Object.hasOwn(value, side)) {
        add(segs, `missing required key '${side}'`);
        continue;
      }
      const fields = parseFields(value[side], [...segs, side], side.slice(0, -1), add);
      if (fields && fields.size === 0) add([...segs, side], `a signature needs at least one ${side.slice(0, -1)} field`);
      if (fields) sig[side] = fields;
    }
    fieldSegs = (side, name) => [...segs, side, name];
  } else {
    add(segs, `signature must be a compact string like 'question -> answer' or an object with inputs and outputs, got ${describeValue(value)}`);
    return sig;
  }

  const total = (sig.inputs?.size ?? 0) + (sig.outputs?.size ?? 0);
  if (total > LIMITS.maxFieldsPerSignature) add(segs, `signature declares ${total} fields; the limit is ${LIMITS.maxFieldsPerSignature}`);
  for (const name of sig.outputs?.keys() ?? []) {
    if (sig.inputs?.has(name)) add(fieldSegs("outputs", name), `field ${quote(name)} is declared as both an input and an output`);
  }
  if (moduleType === "ChainOfThought") {
    for (const side of ["inputs", "outputs"] as const) {
      if (sig[side]?.has("reasoning")) {
        add(fieldSegs(side, "reasoning"), "'reasoning' is reserved: ChainOfThought adds its own 'reasoning' output");
      }
    }
  }
  for (const side of ["inputs", "outputs"] as const) {
    for (const name of sig[side]?.keys() ?? []) {
      const problem = dspyFieldNameProblem(name, side);
      if (problem) add(fieldSegs(side, name), problem);
    }
  }
  return sig;
}
