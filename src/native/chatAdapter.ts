import { type ParseOutcome, parseValue } from "./parseValue.js";
import { formatFieldValue, pyJsonDumps, pySplitlines, pyStrip } from "./pyText.js";
import { type NativeField, type NativeSignature, annotationName, objectiveLines, translateFieldType } from "./signature.js";

/**
 * DSPy 3.4.1's ChatAdapter and the JSONAdapter it falls back to (dspy/adapters/chat_adapter.py,
 * json_adapter.py, base.py), for the signatures this product builds: the messages are the ones DSPy
 * sends, character for character, and an answer parses into the same values or fails where DSPy's
 * fails. test/nativeConformance.test.ts holds both to that against the real DSPy.
 */
export type AdapterKind = "chat" | "json";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export type Demo = Record<string, unknown>;

/** What parsing an answer gave: the output values, a failure where DSPy raises AdapterParseError, or "unsure" (json_repair territory: the worker decides). */
export type AnswerParse = { ok: true; fields: Record<string, unknown> } | { ok: false; reason: string } | { ok: "unsure" };

const INCOMPLETE_DEMO_PREFIX = "This is an example of the task, though some input or output fields are not supplied.";

/** `Adapter.format`: the system message, the demos as user/assistant turns, then the request. */
export function formatMessages(kind: AdapterKind, signature: NativeSignature, demos: readonly Demo[], inputs: Record<string, unknown>): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: "system", content: systemMessage(kind, signature) }, ...formatDemos(kind, signature, demos)];
  const content = userMessage(kind, signature, inputs, "", true);
  if (content) messages.push({ role: "user", content });
  return messages;
}

/** Text DSPy's own `format_user_message_content` could turn into content blocks (legacy custom-type markers): not ours to mimic. */
export const CUSTOM_TYPE_MARKER = "<<CUSTOM-TYPE-START-IDENTIFIER>>";

function systemMessage(kind: AdapterKind, signature: NativeSignature): string {
  const description = `Your input fields are:\n${fieldDescriptions(signature.inputs)}\nYour output fields are:\n${fieldDescriptions(signature.outputs)}`;
  return `${description}\n${fieldStructure(kind, signature)}\nIn adhering to this structure, your objective is: ${objectiveLines(signature.instructions)}`;
}

/** `get_field_description_string`. */
function fieldDescriptions(fields: readonly NativeField[]): string {
  return pyStrip(fields.map((f, i) => `${i + 1}. \`${f.name}\` (${annotationName(f.type)}): ${f.desc === `\${${f.name}}` ? "" : f.desc}`).join("\n"));
}

function fieldStructure(kind: AdapterKind, signature: NativeSignature): string {
  const placeholders = (fields: readonly NativeField[], isInput: boolean) => fields.map((f) => [f, translateFieldType(f, isInput)] as const);
  const head = "All interactions will be structured in the following way, with the appropriate values filled in.";
  const parts =
    kind === "chat"
      ? [head, sections(placeholders(signature.inputs, true)), sections(placeholders(signature.outputs, false)), "[[ ## completed ## ]]\n"]
      : [
          head,
          "Inputs will have the following structure:",
          sections(placeholders(signature.inputs, true)),
          "Outputs will be a JSON object with the following fields.",
          jsonObject(placeholders(signature.outputs, false)),
        ];
  return pyStrip(parts.join("\n\n"));
}

/** ChatAdapter's `format_field_with_value`: `[[ ## name ## ]]` sections. */
function sections(values: readonly (readonly [NativeField, unknown])[]): string {
  return pyStrip(values.map(([field, value]) => `[[ ## ${field.name} ## ]]\n${formatFieldValue(value, field.type === "str")}`).join("\n\n"));
}

/** JSONAdapter's `format_field_with_value(role="assistant")`: one JSON object, indented by 2. */
function jsonObject(values: readonly (readonly [NativeField, unknown])[]): string {
  return pyJsonDumps(Object.fromEntries(values.map(([field, value]) => [field.name, value])), 2);
}

/** `format_user_message_content` (the same for both adapters but for the output requirements). */
function userMessage(kind: AdapterKind, signature: NativeSignature, inputs: Record<string, unknown>, prefix: string, mainRequest: boolean): string {
  const parts = [prefix];
  for (const field of signature.inputs) {
    if (Object.hasOwn(inputs, field.name)) parts.push(`[[ ## ${field.name} ## ]]\n${formatFieldValue(inputs[field.name], field.type === "str")}`);
  }
  if (mainRequest) parts.push(outputRequirements(kind, signature));
  parts.push("");
  return pyStrip(parts.join("\n\n"));
}

function outputRequirements(kind: AdapterKind, signature: NativeSignature): string {
  const typeInfo = (f: NativeField) => (f.type === "str" ? "" : ` (must be formatted as a valid Python ${annotationName(f.type)})`);
  if (kind === "json") return `Respond with a JSON object in the following order of fields: ${signature.outputs.map((f) => `\`${f.name}\`${typeInfo(f)}`).join(", then ")}.`;
  return `Respond with the corresponding output fields, starting with the field ${signature.outputs.map((f) => `\`[[ ## ${f.name} ## ]]\`${typeInfo(f)}`).join(", then ")}, and then ending with the marker for \`[[ ## completed ## ]]\`.`;
}

function assistantMessage(kind: AdapterKind, signature: NativeSignature, outputs: Demo, missing: string): string {
  const values = signature.outputs.map((f) => [f, Object.hasOwn(outputs, f.name) ? outputs[f.name] : missing] as const);
  return kind === "json" ? jsonObject(values) : `${sections(values)}\n\n[[ ## completed ## ]]\n`;
}

/** `Adapter.format_demos`: incomplete demos (some fields missing, at least one input and one output) first, then complete ones. */
function formatDemos(kind: AdapterKind, signature: NativeSignature, demos: readonly Demo[]): ChatMessage[] {
  const fields = [...signature.inputs, ...signature.outputs];
  const complete: Demo[] = [];
  const incomplete: Demo[] = [];
  for (const demo of demos) {
    const has = (f: NativeField) => Object.hasOwn(demo, f.name);
    if (fields.every((f) => has(f) && demo[f.name] !== null)) complete.push(demo);
    else if (signature.inputs.some(has) && signature.outputs.some(has)) incomplete.push(demo);
  }
  const turns = (demo: Demo, prefix: string, missing: string): ChatMessage[] => [
    { role: "user", content: userMessage(kind, signature, demo, prefix, false) },
    { role: "assistant", content: assistantMessage(kind, signature, demo, missing) },
  ];
  return [
    ...incomplete.flatMap((demo) => turns(demo, INCOMPLETE_DEMO_PREFIX, "Not supplied for this particular example. ")),
    ...complete.flatMap((demo) => turns(demo, "", "Not supplied for this conversation history message. ")),
  ];
}

/** `ChatAdapter.parse` (after `_call_postprocess`'s check for an empty answer). */
export function parseChat(signature: NativeSignature, completion: string): AnswerParse {
  if (!completion) return { ok: false, reason: "The LM returned an empty or null response." };
  const sections: [string | null, string[]][] = [[null, []]];
  for (const line of pySplitlines(completion)) {
    const stripped = pyStrip(line);
    const match = /^\[\[ ## ([\p{L}\p{N}_]+) ## \]\]/u.exec(stripped);
    if (match) {
      // DSPy slices the unstripped line at the end of the match in the stripped one.
      const rest = pyStrip(line.slice(match[0].length));
      sections.push([match[1]!, rest ? [rest] : []]);
    } else {
      sections[sections.length - 1]![1].push(line);
    }
  }
  const fields: Record<string, unknown> = {};
  for (const [name, lines] of sections) {
    const field = name === null ? undefined : signature.outputs.find((f) => f.name === name);
    if (!field || Object.hasOwn(fields, field.name)) continue;
    const parsed: ParseOutcome = parseValue(pyStrip(lines.join("\n")), field.type);
    if (parsed.ok === "unsure") return { ok: "unsure" };
    if (!parsed.ok) return { ok: false, reason: `Failed to parse field ${field.name}: ${parsed.reason}` };
    fields[field.name] = parsed.value;
  }
  return complete(signature, fields);
}

/**
 * `JSONAdapter.parse` where the answer is plain JSON. What json_repair would mend (it finds objects in
 * prose, closes braces, reads Python literals) is "unsure", and so is a number given for a `str`
 * output: DSPy writes it as Python does (1.0, not 1), which JSON.parse cannot tell apart.
 */
export function parseJson(signature: NativeSignature, completion: string): AnswerParse {
  if (!completion) return { ok: false, reason: "The LM returned an empty or null response." };
  let value = strictJson(completion);
  if (value === undefined) return { ok: "unsure" };
  if (!isObject(value)) {
    const braced = firstBalancedBraces(completion);
    if (braced === null) return { ok: false, reason: "LM response cannot be serialized to a JSON object." };
    value = strictJson(braced);
    if (value === undefined) return { ok: "unsure" };
    if (!isObject(value)) return { ok: false, reason: "LM response cannot be serialized to a JSON object." };
  }
  const fields: Record<string, unknown> = {};
  for (const field of signature.outputs) {
    if (!Object.hasOwn(value, field.name)) continue;
    if (field.type === "str" && typeof value[field.name] !== "string") return { ok: "unsure" };
    const parsed = parseValue(value[field.name], field.type);
    if (parsed.ok === "unsure") return { ok: "unsure" };
    if (!parsed.ok) return { ok: false, reason: `Failed to parse field ${field.name}: ${parsed.reason}` };
    fields[field.name] = parsed.value;
  }
  return complete(signature, fields);
}

/** Every output parsed (DSPy's fields here have no defaults), in the signature's order. */
function complete(signature: NativeSignature, fields: Record<string, unknown>): AnswerParse {
  const missing = signature.outputs.filter((f) => !Object.hasOwn(fields, f.name));
  if (missing.length > 0) return { ok: false, reason: `the answer has no ${missing.map((f) => `'${f.name}'`).join(", ")}` };
  return { ok: true, fields: Object.fromEntries(signature.outputs.map((f) => [f.name, fields[f.name]])) };
}

/** The JSON value of `text` as Python's json.loads reads it, or undefined when it is not plain JSON (NaN and Infinity included: not JS JSON). */
function strictJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The first `{…}` with balanced braces (the `\{(?:[^{}]|(?R))*\}` search JSONAdapter makes). */
function firstBalancedBraces(text: string): string | null {
  for (let start = text.indexOf("{"); start !== -1; start = text.indexOf("{", start + 1)) {
    let depth = 0;
    for (let i = start; i < text.length; i++) {
      if (text[i] === "{") depth++;
      else if (text[i] === "}" && --depth === 0) return text.slice(start, i + 1);
    }
  }
  return null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** How DummyLM writes an answer (`_format_answer_fields` with ChatAdapter): sections, no completion marker. */
export function dummyAnswer(values: Record<string, unknown>): string {
  return pyStrip(Object.entries(values).map(([name, value]) => `[[ ## ${name} ## ]]\n${formatFieldValue(value, false)}`).join("\n\n"));
}
