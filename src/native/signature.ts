import type { FieldType, ModuleSpec } from "../programs/definition/index.js";
import { isPyFloat, isPySpace, pyJsonDumps, pySplitlines, pyStr } from "./pyText.js";

/**
 * A predictor's signature as DSPy 3.4.1 holds it once the worker has built the module
 * (bridge-py/dspy_bridge/signatures.py) and loaded its compiled state: instructions, and each field's
 * type and description. ChainOfThought's `reasoning` is the first output, as `Signature.prepend` puts it.
 */
export interface NativeField {
  name: string;
  type: FieldType;
  /** As DSPy stores it: `${name}` when none was given (shown as empty). */
  desc: string;
}

export interface NativeSignature {
  /** `Signature.instructions`: the stored text through `inspect.cleandoc`. */
  instructions: string;
  inputs: NativeField[];
  outputs: NativeField[];
}

/** A predictor's state as `Predict.dump_state()` writes it (what compiled state holds per predictor). */
export interface PredictorState {
  demos?: unknown[];
  signature?: { instructions?: unknown; fields?: { prefix?: unknown; description?: unknown }[] };
  fields?: unknown;
}

/** The signature of a Predict or ChainOfThought module, with what its compiled state changed (instructions, descriptions). */
export function signatureOf(module: ModuleSpec, state?: PredictorState): NativeSignature {
  const field = (name: string, spec: { type: FieldType; desc?: string }): NativeField => ({ name, type: spec.type, desc: spec.desc ?? `\${${name}}` });
  const inputs = Object.entries(module.signature.inputs).map(([name, spec]) => field(name, spec));
  const outputs = Object.entries(module.signature.outputs).map(([name, spec]) => field(name, spec));
  // make_signature(fields, None) writes DSPy's default from the declared fields; Signature.prepend keeps it.
  // ("" too: DSPy's signature class then has no docstring of its own.)
  let stored = module.signature.instructions || defaultInstructions(inputs, outputs);
  if (module.type === "ChainOfThought") outputs.unshift({ name: "reasoning", type: "str", desc: "${reasoning}" });
  const saved = state?.signature;
  if (saved && typeof saved.instructions === "string") {
    // Signature.load_state: the instructions, then each field's description in order (zip: the shorter list wins).
    stored = saved.instructions;
    const fields = [...inputs, ...outputs];
    (Array.isArray(saved.fields) ? saved.fields : []).slice(0, fields.length).forEach((f, i) => {
      if (typeof f?.description === "string") fields[i]!.desc = f.description;
    });
  }
  return { instructions: cleandoc(stored), inputs, outputs };
}

function defaultInstructions(inputs: NativeField[], outputs: NativeField[]): string {
  const names = (fields: NativeField[]) => fields.map((f) => `\`${f.name}\``).join(", ");
  return `Given the fields ${names(inputs)}, produce the fields ${names(outputs)}.`;
}

/** Python's type name for a field (`get_annotation_name` of signatures.py's annotation). */
export function annotationName(type: FieldType): string {
  if (typeof type === "string") return type === "dict" ? "dict[str, Any]" : type;
  if ("list" in type) return `list[${annotationName(type.list)}]`;
  return `Literal[${type.enum.map((v) => (typeof v === "string" ? quotedLiteral(v) : pyStr(v))).join(", ")}]`;
}

/** `_quoted_string_for_literal_type_annotation`. */
function quotedLiteral(s: string): string {
  const single = s.includes("'");
  const double = s.includes('"');
  if (single && !double) return `"${s}"`;
  if (double && !single) return `'${s}'`;
  if (single && double) return `'${s.replace(/'/g, "\\'")}'`;
  return `'${s}'`;
}

/** `translate_field_type`: the placeholder of a field in the system message's structure, with the output's type note. */
export function translateFieldType(field: NativeField, isInput: boolean): string {
  const type = field.type;
  let desc = "";
  if (isInput || type === "str") desc = "";
  else if (type === "bool") desc = "must be True or False";
  else if (type === "int" || type === "float") desc = `must be a single ${type} value`;
  else if (typeof type === "object" && "enum" in type) desc = `must exactly match (no extra characters) one of: ${type.enum.map((v) => pyStr(v)).join("; ")}`;
  else desc = `must adhere to the JSON schema: ${pyJsonDumps(jsonSchema(type))}`;
  return `{${field.name}}${desc ? `${" ".repeat(8)}# note: the value you produce ${desc}` : ""}`;
}

/** pydantic's JSON Schema of the type as `_get_json_schema` orders it: `type` first, then the other keys sorted (each object here is built in that order). */
export function jsonSchema(type: FieldType): Record<string, unknown> {
  if (type === "str") return { type: "string" };
  if (type === "int") return { type: "integer" };
  if (type === "float") return { type: "number" };
  if (type === "bool") return { type: "boolean" };
  if (type === "dict") return { type: "object", additionalProperties: true };
  if ("list" in type) return { type: "array", items: jsonSchema(type.list) };
  const values = type.enum;
  const kinds = new Set(values.map(pythonKind));
  const schema: Record<string, unknown> = {};
  if (kinds.size === 1) schema.type = { str: "string", int: "integer", float: "number", bool: "boolean" }[[...kinds][0]!];
  if (values.length === 1) schema.const = values[0];
  else schema.enum = values;
  return schema;
}

function pythonKind(value: string | number | boolean): "str" | "int" | "float" | "bool" {
  if (typeof value === "string") return "str";
  if (typeof value === "boolean") return "bool";
  return isPyFloat(value) ? "float" : "int";
}

/** Python's `inspect.cleandoc` (3.11). */
export function cleandoc(doc: string): string {
  const lines = expandTabs(doc).split("\n");
  let margin = Infinity;
  for (const line of lines.slice(1)) {
    const content = pyLstrip(line).length;
    if (content) margin = Math.min(margin, line.length - content);
  }
  if (lines.length > 0) lines[0] = pyLstrip(lines[0]!);
  if (margin < Infinity) for (let i = 1; i < lines.length; i++) lines[i] = lines[i]!.slice(margin);
  while (lines.length > 0 && !lines[lines.length - 1]) lines.pop();
  while (lines.length > 0 && !lines[0]) lines.shift();
  return lines.join("\n");
}

/** Python's `textwrap.dedent` (its `^` and `$` are at "\n" only, so lines are split there). */
export function dedent(text: string): string {
  const lines = text.split("\n").map((line) => (/^[ \t]+$/.test(line) ? "" : line));
  let margin: string | null = null;
  for (const line of lines) {
    const indent = /^([ \t]*)[^ \t]/.exec(line)?.[1];
    if (indent === undefined) continue;
    if (margin === null || margin.startsWith(indent)) margin = indent;
    else if (!indent.startsWith(margin)) {
      let i = 0;
      while (margin[i] === indent[i]) i++;
      margin = margin.slice(0, i);
    }
  }
  const prefix = margin ?? "";
  return lines.map((line) => (prefix && line.startsWith(prefix) ? line.slice(prefix.length) : line)).join("\n");
}

/** The instructions as ChatAdapter's task description lays them out: dedented, each line indented by 8. */
export function objectiveLines(instructions: string): string {
  return ["", ...pySplitlines(dedent(instructions))].join(`\n${" ".repeat(8)}`);
}

/** `str.expandtabs()` (tab size 8; the column restarts after \n and \r). */
function expandTabs(text: string): string {
  let out = "";
  let column = 0;
  for (const ch of text) {
    if (ch === "\t") {
      const spaces = 8 - (column % 8);
      out += " ".repeat(spaces);
      column += spaces;
    } else {
      out += ch;
      column = ch === "\n" || ch === "\r" ? 0 : column + 1;
    }
  }
  return out;
}

/** `str.lstrip()`. */
function pyLstrip(s: string): string {
  let i = 0;
  while (i < s.length && isPySpace(s[i])) i++;
  return s.slice(i);
}
