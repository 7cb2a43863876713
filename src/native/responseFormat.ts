import type { FieldType } from "../programs/definition/index.js";
import { isPyFloat } from "./pyText.js";
import type { NativeSignature } from "./signature.js";

/**
 * The `response_format` DSPy's JSONAdapter sends a model that supports structured outputs
 * (json_adapter.py `_get_structured_outputs_response_format`): pydantic's JSON Schema of a model with
 * one required field per output, every object closed (`additionalProperties: false`, all properties
 * required), as an OpenAI `json_schema` response format.
 */
export function structuredOutputsFormat(signature: NativeSignature): Record<string, unknown> {
  const properties = Object.fromEntries(signature.outputs.map((f) => [f.name, { ...closed(typeSchema(f.type)), title: fieldTitle(f.name) }]));
  const schema = { properties, required: signature.outputs.map((f) => f.name), title: "DSPyProgramOutputs", type: "object", additionalProperties: false };
  return { type: "json_schema", json_schema: { name: "DSPyProgramOutputs", strict: true, schema } };
}

/** pydantic's schema of a field type (no titles below the field). */
function typeSchema(type: FieldType): Record<string, unknown> {
  if (type === "str") return { type: "string" };
  if (type === "int") return { type: "integer" };
  if (type === "float") return { type: "number" };
  if (type === "bool") return { type: "boolean" };
  if (type === "dict") return { additionalProperties: true, type: "object" };
  if ("list" in type) return { items: typeSchema(type.list), type: "array" };
  const kinds = new Set(type.enum.map((v) => (typeof v === "string" ? "string" : typeof v === "boolean" ? "boolean" : isPyFloat(v) ? "number" : "integer")));
  const schema: Record<string, unknown> = type.enum.length === 1 ? { const: type.enum[0] } : { enum: [...type.enum] };
  if (kinds.size === 1) schema.type = [...kinds][0];
  return schema;
}

/** `enforce_required`: an object schema lists all its properties as required and admits no others. */
function closed(schema: Record<string, unknown>): Record<string, unknown> {
  if (schema.type === "object") {
    const properties = (schema.properties as Record<string, Record<string, unknown>> | undefined) ?? {};
    return { ...schema, properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, closed(v)])), required: Object.keys(properties), additionalProperties: false };
  }
  if (schema.type === "array" && schema.items && typeof schema.items === "object") return { ...schema, items: closed(schema.items as Record<string, unknown>) };
  return schema;
}

/** pydantic's default title of a field: Python's `name.title()` with "_" as " ". */
function fieldTitle(name: string): string {
  let out = "";
  let previousCased = false;
  for (const ch of name) {
    const cased = ch.toLowerCase() !== ch.toUpperCase();
    out += cased ? (previousCased ? ch.toLowerCase() : ch.toUpperCase()) : ch;
    previousCased = cased;
  }
  return out.replace(/_/g, " ");
}

/**
 * Whether DSPy's LM client reads a structured answer to this schema as data and writes it back as
 * `json.dumps` text: some top-level property is a "judgment" (lm15 judgments.py `_judgment_of`): a
 * boolean, an enum of distinct non-empty strings, or an enum of the ints 0…n-1 (n ≥ 2).
 */
export function foldsAnswer(format: Record<string, unknown>): boolean {
  const schema = (format.json_schema as { schema: { properties: Record<string, Record<string, unknown>> } }).schema;
  return Object.values(schema.properties).some((property) => {
    if (property.type === "boolean") return true;
    const values = property.enum;
    if (!Array.isArray(values) || values.length === 0) return false;
    if (values.every((v) => typeof v === "string" && v !== "")) return (property.type === undefined || property.type === "string") && new Set(values).size === values.length;
    const ints = values.every((v) => typeof v === "number" && Number.isInteger(v));
    return ints && (property.type === undefined || property.type === "integer") && values.length >= 2 && values.every((v, i) => v === i);
  });
}
