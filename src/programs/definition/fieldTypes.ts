import { DEFINITION_LIMITS, type FieldType, type Issue } from "./types.js";
import { describeValue, formatPath, isObject, quote, type Seg } from "./format.js";

export const EXPECTED_TYPES = "expected str, int, float, bool, dict, list[T] or enum";
const EXPECTED_PYTHON_TYPES = "expected str, int, float, bool, dict, list[T] or Literal[...]";

export type EnumValue = string | number | boolean;
export type TypeParse = { ok: true; type: FieldType } | { ok: false; reason: string };

function isList(t: FieldType): t is { list: FieldType } {
  return typeof t === "object" && t !== null && Object.hasOwn(t, "list");
}

function isEnum(t: FieldType): t is { enum: EnumValue[] } {
  return typeof t === "object" && t !== null && Object.hasOwn(t, "enum") && Array.isArray((t as { enum?: unknown }).enum);
}

/** "str", "list[list[int]]", "enum[a, b]" — for messages. */
export function formatFieldType(t: FieldType): string {
  if (typeof t === "string") return t;
  if (isList(t)) return `list[${formatFieldType(t.list)}]`;
  if (isEnum(t)) return `enum[${t.enum.map((v) => String(v)).join(", ")}]`;
  return "unknown";
}

/** Structural equality; enum value order does not matter. */
export function typesEqual(a: FieldType, b: FieldType): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (isList(a) && isList(b)) return typesEqual(a.list, b.list);
  if (isEnum(a) && isEnum(b)) return a.enum.length === b.enum.length && a.enum.every((v) => b.enum.includes(v));
  return false;
}

/** Problems with a list of enum values; `index` points at the offending element when there is one. */
export function enumProblems(values: readonly unknown[]): { index?: number; reason: string }[] {
  const problems: { index?: number; reason: string }[] = [];
  if (values.length === 0) problems.push({ reason: "enum needs at least one value" });
  if (values.length > DEFINITION_LIMITS.maxEnumValues) {
    problems.push({ reason: `enum has ${values.length} values; the limit is ${DEFINITION_LIMITS.maxEnumValues}` });
  }
  let kind: string | undefined;
  const seen: unknown[] = [];
  values.forEach((value, index) => {
    const valid = typeof value === "string" || typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value));
    if (!valid) {
      problems.push({ index, reason: `enum value must be a string, number or boolean, got ${describeValue(value)}` });
    } else if (kind !== undefined && typeof value !== kind) {
      problems.push({ index, reason: `enum value ${formatValue(value)} is a ${typeof value} but the first value is a ${kind}; all values must be of one kind` });
    } else if (seen.includes(value)) {
      problems.push({ index, reason: `duplicate enum value ${formatValue(value)}` });
    } else {
      kind ??= typeof value;
      seen.push(value);
    }
  });
  return problems;
}

/** 'a' for strings, 1 / true for numbers and booleans, a description otherwise. */
function formatValue(value: unknown): string {
  if (typeof value === "string") return quote(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return describeValue(value);
}

/**
 * Parses a type string. "json" is the definition grammar (str, int, float, bool, dict, list[T]);
 * "python" adds DSPy's spellings for compact signatures: List[T], dict[...]/Dict[...], Literal[...].
 */
export function parseFieldType(text: string, dialect: "json" | "python" = "json"): TypeParse {
  const parser = new TypeParser(text, dialect === "python");
  const type = parser.type(0);
  parser.skipSpace();
  if (type !== undefined && parser.atEnd()) return { ok: true, type };
  const expected = dialect === "python" ? EXPECTED_PYTHON_TYPES : EXPECTED_TYPES;
  return { ok: false, reason: parser.problem ?? `unknown field type ${quote(text.trim())} (${expected})` };
}

class TypeParser {
  pos = 0;
  /** A more specific reason than "unknown field type", when there is one. */
  problem: string | undefined;

  constructor(
    private readonly src: string,
    private readonly python: boolean,
  ) {}

  atEnd(): boolean {
    return this.pos === this.src.length;
  }

  skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src.charAt(this.pos))) this.pos++;
  }

  private eat(ch: string): boolean {
    this.skipSpace();
    if (this.src.charAt(this.pos) !== ch) return false;
    this.pos++;
    return true;
  }

  private word(): string {
    this.skipSpace();
    const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.src.slice(this.pos));
    if (!match) return "";
    this.pos += match[0].length;
    return match[0];
  }

  type(listDepth: number): FieldType | undefined {
    const word = this.word();
    switch (word) {
      case "str":
      case "int":
      case "float":
      case "bool":
        return word;
      case "dict":
      case "Dict":
        if (word === "Dict" && !this.python) return undefined;
        if (this.python && this.eat("[")) return this.skipToClose() ? "dict" : undefined;
        return "dict";
      case "list":
      case "List": {
        if ((word === "List" && !this.python) || !this.eat("[")) return undefined;
        if (listDepth + 1 > DEFINITION_LIMITS.maxListNesting) {
          this.problem = `field type ${quote(this.src.trim())} nests lists deeper than ${DEFINITION_LIMITS.maxListNesting} levels`;
          return undefined;
        }
        const inner = this.type(listDepth + 1);
        return inner !== undefined && this.eat("]") ? { list: inner } : undefined;
      }
      case "Literal":
        return this.python && this.eat("[") ? this.literal() : undefined;
      default:
        return undefined;
    }
  }

  /** Skips the arguments of dict[...] (any content, brackets balanced, quotes respected). */
  private skipToClose(): boolean {
    let depth = 1;
    let quoteChar = "";
    for (; this.pos < this.src.length; this.pos++) {
      const c = this.src.charAt(this.pos);
      if (quoteChar) {
        if (c === "\\") this.pos++;
        else if (c === quoteChar) quoteChar = "";
      } else if (c === "'" || c === '"') quoteChar = c;
      else if (c === "[") depth++;
      else if (c === "]" && --depth === 0) {
        this.pos++;
        return true;
      }
    }
    return false;
  }

  private literal(): FieldType | undefined {
    const values: EnumValue[] = [];
    while (!this.eat("]")) {
      const value = this.literalValue();
      if (value === undefined) return undefined;
      values.push(value);
      if (!this.eat(",")) {
        if (!this.eat("]")) return undefined;
        break;
      }
    }
    const [first] = enumProblems(values);
    if (first) {
      this.problem = `Literal: ${first.reason}`;
      return undefined;
    }
    return { enum: values };
  }

  private literalValue(): EnumValue | undefined {
    this.skipSpace();
    const open = this.src.charAt(this.pos);
    if (open === "'" || open === '"') return this.quoted(open);
    const number = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(this.src.slice(this.pos));
    if (number) {
      this.pos += number[0].length;
      return Number(number[0]);
    }
    const word = this.word();
    if (word === "True") return true;
    if (word === "False") return false;
    return undefined;
  }

  private quoted(close: string): string | undefined {
    const escapes: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"' };
    let out = "";
    for (this.pos++; this.pos < this.src.length; this.pos++) {
      const c = this.src.charAt(this.pos);
      if (c === close) {
        this.pos++;
        return out;
      }
      if (c === "\\" && this.pos + 1 < this.src.length) {
        const next = this.src.charAt(++this.pos);
        out += Object.hasOwn(escapes, next) ? escapes[next] : `\\${next}`;
      } else out += c;
    }
    return undefined;
  }
}

/** Infers the type of a literal (used for return bindings); empty lists are list[str]. */
export function inferLiteralType(value: unknown, listDepth = 0): TypeParse {
  if (typeof value === "string") return { ok: true, type: "str" };
  if (typeof value === "boolean") return { ok: true, type: "bool" };
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return { ok: false, reason: `cannot use ${describeValue(value)} as a literal` };
    return { ok: true, type: Number.isInteger(value) ? "int" : "float" };
  }
  if (isObject(value)) return { ok: true, type: "dict" };
  if (!Array.isArray(value)) return { ok: false, reason: `cannot infer a field type from ${describeValue(value)}` };
  if (listDepth + 1 > DEFINITION_LIMITS.maxListNesting) {
    return { ok: false, reason: `list literal nests deeper than ${DEFINITION_LIMITS.maxListNesting} levels` };
  }
  let element: FieldType = "str";
  for (let i = 0; i < value.length; i++) {
    const inferred = inferLiteralType(value[i], listDepth + 1);
    if (!inferred.ok) return { ok: false, reason: `element [${i}]: ${inferred.reason}` };
    if (i === 0 || typesEqual(element, inferred.type)) element = inferred.type;
    else if (isNumber(element) && isNumber(inferred.type)) element = "float";
    else {
      return { ok: false, reason: `list literal mixes ${formatFieldType(element)} and ${formatFieldType(inferred.type)} elements` };
    }
  }
  return { ok: true, type: { list: element } };
}

function isNumber(t: FieldType): boolean {
  return t === "int" || t === "float";
}

/** Checks a JSON value against a field type; paths of nested problems extend `path` with [i]. */
export function checkValue(value: unknown, type: FieldType, path: string): Issue[] {
  const issues: Issue[] = [];
  collectValueIssues(value, type, [], (segs, reason) => issues.push({ path: formatPath(path, segs), reason }));
  return issues;
}

export function collectValueIssues(
  value: unknown,
  type: FieldType,
  segs: readonly Seg[],
  add: (segs: readonly Seg[], reason: string) => void,
): void {
  const expected = (ok: boolean) => {
    if (!ok) add(segs, `expected ${formatFieldType(type)}, got ${describeValue(value)}`);
  };
  switch (type) {
    case "str":
      return expected(typeof value === "string");
    case "int":
      return expected(typeof value === "number" && Number.isInteger(value));
    case "float":
      return expected(typeof value === "number" && Number.isFinite(value));
    case "bool":
      return expected(typeof value === "boolean");
    case "dict":
      return expected(isObject(value));
  }
  if (isList(type)) {
    if (!Array.isArray(value)) return expected(false);
    for (let i = 0; i < value.length; i++) collectValueIssues(value[i], type.list, [...segs, i], add);
  } else if (isEnum(type)) {
    if (!type.enum.some((v) => v === value)) {
      add(segs, `expected one of ${type.enum.map(formatValue).join(", ")}, got ${formatValue(value)}`);
    }
  } else {
    add(segs, `unknown field type ${describeValue(type)}`);
  }
}
