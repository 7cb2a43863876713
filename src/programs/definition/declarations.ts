import { DEFINITION_LIMITS as LIMITS, type FieldSpec, type FieldType } from "./types.js";
import { entryOf, MODULE_TYPES, optionDefaults, optionProblem, type AddedOutput, type ModuleTypeEntry } from "../../catalog.js";
import { parseReward, parseTools, type RawReward, type RawTool } from "./moduleParts.js";
import { enumProblems, parseFieldType } from "./fieldTypes.js";
import { parseCompactSignature } from "./compactSignature.js";
import { nameProblem } from "./names.js";
import { dspyFieldNameProblem, dspyProgramInputProblem } from "./dspyNames.js";
import { describeValue, isObject, quote, setOwn, type Seg } from "./format.js";

/** Records an issue at a path relative to the definition root. */
export type Add = ((segs: readonly Seg[], reason: string) => void) & { count: () => number };

/** Declared fields; null marks a field whose spec was invalid (already reported), so its type is unknown. */
export type Fields = Map<string, FieldSpec | null>;

/** What is known of a module; a missing part was invalid (already reported), so checks that need it are skipped. */
export interface ModuleInfo {
  type?: string;
  entry?: ModuleTypeEntry;
  instructions?: string;
  inputs?: Fields;
  outputs?: Fields;
  config?: Record<string, unknown>;
  reward?: RawReward;
  tools?: RawTool[];
  corpusId?: string;
  url?: string;
}

const FIELD_KEYS = ["type", "desc", "values"];
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
  const t = value["type"];
  const entry = entryOf(MODULE_TYPES, t);
  const keys = entry ? moduleKeys(entry) : ["type", "signature", "config", "reward", "tools", "corpus", "url"];
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) add([...segs, key], `unknown key ${quote(key)} in ${entry ? `a ${String(t)} module` : "module"} (expected ${keys.join(", ")})`);
  }
  if (!Object.hasOwn(value, "type")) add(segs, "missing required key 'type'");
  else if (!entry) add([...segs, "type"], `unknown module type ${typeof t === "string" ? quote(t) : describeValue(t)} (expected ${Object.keys(MODULE_TYPES).join(", ")})`);
  const info: ModuleInfo = entry ? { type: t as string, entry } : {};
  if (entry?.signature) {
    info.inputs = fixedFields(entry.signature.inputs);
    info.outputs = fixedFields(entry.signature.outputs);
  } else if (!Object.hasOwn(value, "signature")) {
    add(segs, "missing required key 'signature'");
  } else {
    Object.assign(info, parseSignature(value["signature"], [...segs, "signature"], entry ? String(t) : undefined, entry, add));
  }
  if (!entry) return info;
  const config = parseConfig(Object.hasOwn(value, "config") ? value["config"] : {}, [...segs, "config"], String(t), entry, add);
  if (config) info.config = config;
  const needs = { reward: "a reward", tools: "tools", corpus: "a corpus", url: "the server's url" } as const;
  for (const key of ["reward", "tools", "corpus", "url"] as const) {
    if (entry[key] && !Object.hasOwn(value, key)) add(segs, `missing required key '${key}' (a ${String(t)} module needs ${needs[key]})`);
  }
  if (entry.reward && Object.hasOwn(value, "reward")) {
    const reward = parseReward(value["reward"], [...segs, "reward"], add);
    if (reward) info.reward = reward;
  }
  if (entry.tools && Object.hasOwn(value, "tools")) {
    const tools = parseTools(value["tools"], [...segs, "tools"], add);
    if (tools) info.tools = tools;
  }
  if (entry.corpus && Object.hasOwn(value, "corpus")) {
    const corpus = value["corpus"];
    if (typeof corpus !== "string" || corpus === "") add([...segs, "corpus"], `corpus must be a corpus id, got ${describeValue(corpus)}`);
    else info.corpusId = corpus;
  }
  if (entry.url && Object.hasOwn(value, "url")) {
    const url = value["url"];
    if (typeof url !== "string" || !/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/.test(url) || url.length > 2048) {
      add([...segs, "url"], `url must be an http(s) URL without query or fragment, got ${describeValue(url)}`);
    } else info.url = url;
  }
  return info;
}

function moduleKeys(entry: ModuleTypeEntry): string[] {
  return ["type", ...(entry.signature ? [] : ["signature"]), "config", ...(["reward", "tools", "corpus", "url"] as const).filter((k) => entry[k])];
}

function fixedFields(fields: Record<string, { type: unknown }>): Fields {
  return new Map(Object.entries(fields).map(([name, spec]) => [name, { type: spec.type as FieldType }]));
}

/** The type's options, checked against the catalog, with every default filled in. */
function parseConfig(value: unknown, segs: Seg[], type: string, entry: ModuleTypeEntry, add: Add): Record<string, unknown> | undefined {
  if (!isObject(value)) {
    add(segs, `config must be an object of ${type} options, got ${describeValue(value)}`);
    return undefined;
  }
  const config = optionDefaults(entry.options);
  let ok = true;
  for (const key of Object.keys(value)) {
    const option = Object.hasOwn(entry.options, key) ? entry.options[key] : undefined;
    if (!option) {
      const takes = Object.keys(entry.options);
      add([...segs, key], `${type} takes no option ${quote(key)} (${takes.length > 0 ? `it takes ${takes.join(", ")}` : "it takes none"})`);
      ok = false;
      continue;
    }
    const problem = optionProblem(option, value[key]);
    if (problem) {
      add([...segs, key], problem);
      ok = false;
    } else setOwn(config, key, value[key]);
  }
  return ok ? config : undefined;
}

/** The inner module type of a wrapping type (BestOfN, Refine): what its outputs and predictors come from. */
export function innerEntry(info: ModuleInfo): ModuleTypeEntry | undefined {
  const wraps = info.entry?.wraps;
  if (!wraps) return info.entry;
  return entryOf(MODULE_TYPES, info.config?.[wraps] ?? info.entry?.options[wraps]?.default);
}

function parseSignature(value: unknown, segs: Seg[], typeName: string | undefined, moduleType: ModuleTypeEntry | undefined, add: Add): ModuleInfo {
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
  for (const reserved of moduleType?.reserves ?? []) {
    for (const side of ["inputs", "outputs"] as const) {
      if (sig[side]?.has(reserved)) add(fieldSegs(side, reserved), `${quote(reserved)} is reserved: ${typeName} uses a field of that name itself`);
    }
  }
  for (const added of addedOutputs(moduleType)) {
    for (const side of ["inputs", "outputs"] as const) {
      if (sig[side]?.has(added.name)) {
        const who = moduleType?.wraps ? `${typeName} may wrap a module that` : typeName;
        add(fieldSegs(side, added.name), `${quote(added.name)} is reserved: ${who} adds its own ${quote(added.name)} output`);
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

/** Outputs a module type adds before the signature's (ChainOfThought's reasoning…); a wrapper's come from its inner type. */
export function addedOutputs(entry: ModuleTypeEntry | undefined, config?: Record<string, unknown>): AddedOutput[] {
  if (!entry) return [];
  if (!entry.wraps) return entry.adds ?? [];
  if (config) return entryOf(MODULE_TYPES, config[entry.wraps])?.adds ?? [];
  // Any inner type it could wrap: reserve all of their names.
  const inner = entry.options[entry.wraps]?.enum ?? [];
  return inner.flatMap((name) => entryOf(MODULE_TYPES, name)?.adds ?? []);
}
