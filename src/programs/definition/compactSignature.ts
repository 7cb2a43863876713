import type { FieldType } from "./types.js";
import { parseFieldType } from "./fieldTypes.js";
import { nameProblem } from "./names.js";
import { quote } from "./format.js";

export interface CompactField {
  name: string;
  type: FieldType;
}

export type CompactParse =
  | { ok: true; inputs: CompactField[]; outputs: CompactField[] }
  | { ok: false; reasons: string[] };

/**
 * Parses DSPy's compact form "context: list[str], question -> answer".
 * A field without a type is str; types may use DSPy/Python spellings (List[...], dict[...], Literal[...]).
 */
export function parseCompactSignature(text: string): CompactParse {
  const sides = splitTopLevel(text, "->");
  if (sides.length !== 2) {
    if (sides.length === 1 && text.includes("->")) {
      return { ok: false, reasons: [`compact signature ${quote(text)} has unbalanced brackets or quotes`] };
    }
    const reason =
      sides.length === 1
        ? `compact signature ${quote(text)} has no '->' (expected 'inputs -> outputs', e.g. 'question -> answer')`
        : `compact signature ${quote(text)} has ${sides.length - 1} '->'; expected exactly one`;
    return { ok: false, reasons: [reason] };
  }
  const reasons: string[] = [];
  const inputs = parseSide(text, sides[0] ?? "", "input", reasons);
  const outputs = parseSide(text, sides[1] ?? "", "output", reasons);
  return reasons.length > 0 ? { ok: false, reasons } : { ok: true, inputs, outputs };
}

function parseSide(text: string, side: string, kind: "input" | "output", reasons: string[]): CompactField[] {
  if (side.trim() === "") {
    reasons.push(`compact signature ${quote(text)} has no ${kind} fields ${kind === "input" ? "before" : "after"} '->'`);
    return [];
  }
  const fields: CompactField[] = [];
  const seen = new Set<string>();
  for (const raw of splitTopLevel(side, ",")) {
    const fragment = raw.trim();
    if (fragment === "") {
      reasons.push(`empty ${kind} field in ${quote(side.trim())}`);
      continue;
    }
    const colon = fragment.indexOf(":");
    const name = (colon < 0 ? fragment : fragment.slice(0, colon)).trim();
    const typeText = colon < 0 ? "str" : fragment.slice(colon + 1).trim();
    const problem = nameProblem(name, `${kind} field name`);
    if (problem) reasons.push(`field ${quote(fragment)}: ${problem}`);
    if (seen.has(name)) reasons.push(`duplicate ${kind} field ${quote(name)}`);
    seen.add(name);
    if (typeText === "") {
      reasons.push(`field ${quote(fragment)}: missing type after ':'`);
      continue;
    }
    const parsed = parseFieldType(typeText, "python");
    if (parsed.ok) fields.push({ name, type: parsed.type });
    else reasons.push(`field ${quote(fragment)}: ${parsed.reason}`);
  }
  return fields;
}

/** Splits on `separator` outside brackets and quotes, so "dict[str, Any]" and "Literal['a,b']" stay whole. */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoteChar = "";
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (quoteChar) {
      if (c === "\\") i++;
      else if (c === quoteChar) quoteChar = "";
    } else if (c === "'" || c === '"') quoteChar = c;
    else if (c === "[" || c === "(" || c === "{") depth++;
    else if (c === "]" || c === ")" || c === "}") depth = Math.max(0, depth - 1);
    else if (depth === 0 && text.startsWith(separator, i)) {
      parts.push(text.slice(start, i));
      i += separator.length - 1;
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
