import type { FieldType } from "../programs/definition/index.js";
import { isPyFloat, isPySpace, pyFloatRepr, pyJsonDumps, pyRepr, pyStrip } from "./pyText.js";

/**
 * DSPy 3.4.1's `parse_value(value, annotation)` (dspy/adapters/utils.py) for this product's field
 * types, without Python: json_repair.loads where the text is plain JSON (or plain JSON after some
 * prose, or nothing json_repair would take), ast.literal_eval, then pydantic's lax validation
 * (pydantic-core's str/int/float/bool/dict/list/literal validators). Where json_repair would really
 * mend the text (or Python would hit one of its own limits) the answer is "unsure": the worker
 * decides. test/nativeParseValue.test.ts holds this to the real DSPy.
 *
 * Values come back as JSON values: a Python int or float is a JS number (1.0 and 1 alike), a tuple
 * or set a list; a nan or infinite float stays NaN/Infinity here (`toJsonable` makes it null, as
 * the worker's `to_jsonable` does).
 */
export type ParseOutcome = { ok: true; value: unknown } | { ok: false; reason: string } | { ok: "unsure"; reason?: string };

export function parseValue(value: unknown, type: FieldType): ParseOutcome {
  try {
    const parsed = parse(value, type);
    // to_jsonable writes repr() past depth 64 (counted from the outputs dict holding the value),
    // where a JS number no longer tells 1.0 from 1
    if (depthOf(parsed) > 60) throw new Unsure("deeper than to_jsonable goes");
    return { ok: true, value: toJs(parsed) };
  } catch (e) {
    if (e instanceof Unsure) return { ok: "unsure", reason: e.message };
    if (e instanceof Invalid) return { ok: false, reason: e.message };
    throw e;
  }
}

/** bridge-py/dspy_bridge/tracing.py `to_jsonable` for JSON-like values: non-finite numbers become null, past depth 64 Python's repr. */
export function toJsonable(value: unknown, depth = 0): unknown {
  if (depth > 64) return pyRepr(value);
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map((v) => toJsonable(v, depth + 1));
  if (typeof value === "object") return jsObject(Object.entries(value).map(([k, v]) => [k, toJsonable(v, depth + 1)]));
  return pyRepr(value);
}

// --- Python values ------------------------------------------------------------------------------

/** A Python int (a float is a JS number, a list a JS array, a dict a Map, None null). */
class PyInt {
  constructor(readonly v: bigint) {}
}
class PyTuple {
  constructor(readonly items: Py[]) {}
}
/** Only `set()` can come out of ast.literal_eval here (a set display needs braces, which json_repair takes). */
class PySet {
  constructor(readonly items: Py[]) {}
}
/** Only from ast.literal_eval ("2j", "1 - 0.5j"): every validator here refuses one, but a Literal member can equal it. */
class PyComplex {
  constructor(
    readonly re: number,
    readonly im: number,
  ) {}
}
const ELLIPSIS = Symbol("Ellipsis");
type Py = null | boolean | string | number | PyInt | PyComplex | Py[] | PyTuple | PySet | Map<string, Py> | typeof ELLIPSIS;

/** Python would raise ValueError (pydantic's ValidationError is one). */
class Invalid extends Error {}
/** Not decided here: json_repair's repairs, Python's limits, literals not modelled. */
class Unsure extends Error {}
/** ast.literal_eval raised ValueError or SyntaxError: parse_value goes on with the raw text. */
class NotLiteral extends Error {}

function fromJs(value: unknown): Py {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") return isPyFloat(value) ? value : new PyInt(BigInt(value));
  if (typeof value === "bigint") return new PyInt(value);
  if (Array.isArray(value)) return value.map(fromJs);
  if (typeof value === "object") return new Map(Object.entries(value).map(([k, v]) => [k, fromJs(v)]));
  throw new TypeError(`not a JSON value: ${typeof value}`);
}

/** The JSON value of a Python value (ints as numbers, or as bigints for messages). */
function toJs(value: Py, bigints = false): unknown {
  if (value instanceof PyInt) return bigints ? value.v : Number(value.v);
  if (Array.isArray(value)) return value.map((v) => toJs(v, bigints));
  if (value instanceof PyTuple || value instanceof PySet) return value.items.map((v) => toJs(v, bigints));
  if (value instanceof Map) return jsObject([...value].map(([k, v]) => [k, toJs(v, bigints)]));
  if (value === ELLIPSIS) return "Ellipsis";
  if (value instanceof PyComplex) return `(${value.re}+${value.im}j)`;
  return value;
}

function depthOf(value: Py): number {
  const items = Array.isArray(value) ? value : value instanceof PyTuple || value instanceof PySet ? value.items : value instanceof Map ? [...value.values()] : undefined;
  return items === undefined ? 0 : 1 + Math.max(0, ...items.map(depthOf));
}

/** An object from entries, keeping a "__proto__" key as data. */
function jsObject(entries: [string, unknown][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

/** Python's `==` between a value and a Literal member (a str, int, float or bool). */
function pyEquals(a: Py, b: Py): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (a instanceof PyComplex) return a.im === 0 && pyEquals(a.re, b);
  if (b instanceof PyComplex) return b.im === 0 && pyEquals(a, b.re);
  const x = numeric(a);
  const y = numeric(b);
  if (x === undefined || y === undefined) return false;
  if (typeof x === "bigint" && typeof y === "bigint") return x === y;
  if (typeof x === "number" && typeof y === "number") return x === y;
  const [int, float] = (typeof x === "bigint" ? [x, y] : [y, x]) as [bigint, number];
  return Number.isInteger(float) && BigInt(float) === int;
}

function numeric(v: Py): bigint | number | undefined {
  if (typeof v === "boolean") return v ? 1n : 0n;
  if (v instanceof PyInt) return v.v;
  if (typeof v === "number") return v;
  return undefined;
}

/** signatures.py `_literal_value`: an integral number is an int member. */
function literalMember(v: string | number | boolean): Py {
  return typeof v === "number" && Number.isInteger(v) ? new PyInt(BigInt(v)) : v;
}

// --- parse_value --------------------------------------------------------------------------------

/** `parse_value`. */
function parse(raw: unknown, type: FieldType): Py {
  if (type === "str") return typeof raw === "string" ? raw : pyRepr(raw);
  let value: Py = typeof raw === "string" ? raw : fromJs(raw);
  if (typeof type === "object" && "enum" in type) {
    const allowed = type.enum.map(literalMember);
    if (allowed.some((m) => pyEquals(value, m))) return value;
    if (typeof value === "string") {
      let v = pyStrip(value);
      if ((v.startsWith("Literal[") || v.startsWith("str[")) && v.endsWith("]")) v = v.slice(v.indexOf("[") + 1, -1);
      if (v.length > 1 && v[0] === v[v.length - 1] && (v[0] === '"' || v[0] === "'")) v = v.slice(1, -1);
      if (allowed.some((m) => pyEquals(v, m))) return v;
      value = v;
    }
  }
  if (typeof value !== "string") return validate(value, type);
  let candidate = jsonRepairLoads(value);
  if (candidate === "" && value !== "") candidate = literalEvalOrRaw(value);
  return validate(candidate, type);
}

// --- pydantic (lax mode) ------------------------------------------------------------------------

function validate(x: Py, type: FieldType): Py {
  if (type === "str") return validateStr(x);
  if (type === "int") return validateInt(x);
  if (type === "float") return validateFloat(x);
  if (type === "bool") return validateBool(x);
  if (type === "dict") return validateDict(x);
  if ("list" in type) return validateList(x, type.list);
  return validateLiteral(x, type.enum.map(literalMember));
}

function invalid(what: string, x: Py): Invalid {
  return new Invalid(`Input should be ${what} [input_value=${reprPy(x)}]`);
}

function reprPy(x: Py): string {
  return pyRepr(toJs(x, true));
}

/** str in lax mode: a str (or bytes, which never get here); never a number. */
function validateStr(x: Py): string {
  if (typeof x === "string") return x;
  throw invalid("a valid string", x);
}

function validateInt(x: Py): PyInt {
  if (x instanceof PyInt) return x;
  if (typeof x === "boolean") return new PyInt(x ? 1n : 0n);
  if (typeof x === "string") {
    const int = strAsInt(x);
    if (int === undefined) throw invalid("a valid integer, unable to parse string as an integer", x);
    return new PyInt(int);
  }
  if (typeof x === "number") return new PyInt(floatAsInt(x));
  throw invalid("a valid integer", x);
}

const JSON_INT = /^-?(?:0|[1-9][0-9]*)$/;

/** pydantic-core `str_as_int`: a JSON integer (jiter), else the same after `clean_int_str`. */
function strAsInt(s: string): bigint | undefined {
  if (JSON_INT.test(s)) return checkedInt(s);
  const cleaned = cleanIntStr(s);
  return cleaned !== undefined && JSON_INT.test(cleaned) ? checkedInt(cleaned) : undefined;
}

function checkedInt(digits: string): bigint {
  if (digits.length > 4300) throw new Unsure("int over 4300 digits");
  return BigInt(digits);
}

/** pydantic-core `clean_int_str`: trim, one sign, leading zeros, a ".000" tail, underscores. */
function cleanIntStr(input: string): string | undefined {
  let s = rustTrim(input);
  if (s.startsWith("+")) {
    if (s[1] === "-") return undefined;
    s = s.slice(1);
  }
  let negative = false;
  if (s.startsWith("-")) {
    if (s[1] === "-" || s[1] === "+") return undefined;
    negative = true;
    s = s.slice(1);
  }
  const stripped = stripLeadingZeros(s);
  if (stripped === undefined) return undefined;
  s = stripped;
  const dot = s.indexOf(".");
  if (dot !== -1 && dot + 1 < s.length && /^0+$/.test(s.slice(dot + 1))) s = s.slice(0, dot);
  const sign = negative ? "-" : "";
  const noUnderscores = stripUnderscores(s);
  if (noUnderscores !== undefined) return sign + noUnderscores;
  if (input.length === s.length) return undefined;
  return sign + s;
}

/** pydantic-core `strip_leading_zeros` ("000" → "0", "00.0" → "0.0", "0_1" → "1"). */
function stripLeadingZeros(s: string): string | undefined {
  const first = s[0];
  if (first === undefined) return undefined;
  if (first !== "0") return (first >= "1" && first <= "9") || first === "-" ? s : undefined;
  for (let i = 1; i < s.length; i++) {
    const c = s[i]!;
    if (c === "0" || c === "_") continue;
    if ((c >= "1" && c <= "9") || c === "-") return s.slice(i);
    if (c === ".") return s.slice(i - 1);
    return undefined;
  }
  return s.slice(-1);
}

/** pydantic-core `strip_underscores`: only for underscores between characters, never doubled. */
function stripUnderscores(s: string): string | undefined {
  if (s.startsWith("_") || s.endsWith("_") || !s.includes("_") || s.includes("__")) return undefined;
  return s.replaceAll("_", "");
}

/** Rust's str::trim (Unicode White_Space: Python's whitespace but for \x1c-\x1f). */
function rustTrim(s: string): string {
  return s.replace(/^[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g, "");
}

/** pydantic-core `float_as_int`. */
function floatAsInt(f: number): bigint {
  if (!Number.isFinite(f)) throw invalid("a finite number", f);
  if (!Number.isInteger(f)) throw invalid("a valid integer, got a number with a fractional part", f);
  if (f <= -(2 ** 63) || f >= 2 ** 63) throw invalid("a valid integer, unable to parse input as an integer (too large)", f);
  return BigInt(f);
}

function validateFloat(x: Py): number {
  if (typeof x === "number") return x;
  if (typeof x === "string") {
    const f = strAsFloat(x);
    if (f === undefined) throw invalid("a valid number, unable to parse string as a number", x);
    return f;
  }
  if (typeof x === "boolean") return x ? 1 : 0;
  if (x instanceof PyInt) {
    const f = Number(x.v);
    if (!Number.isFinite(f)) throw invalid("a valid number (int too large to convert to float)", x);
    return f;
  }
  throw invalid("a valid number", x);
}

const RUST_FLOAT = /^[+-]?(?:inf|infinity|nan|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)$/i;

/** pydantic-core `str_as_float`: Rust's f64 parse of the trimmed text, else of the text without its underscores (untrimmed). */
function strAsFloat(s: string): number | undefined {
  const parsed = rustParseFloat(rustTrim(s));
  if (parsed !== undefined) return parsed;
  const noUnderscores = stripUnderscores(s);
  return noUnderscores === undefined ? undefined : rustParseFloat(noUnderscores);
}

function rustParseFloat(s: string): number | undefined {
  if (!RUST_FLOAT.test(s)) return undefined;
  const body = s.replace(/^[+-]/, "").toLowerCase();
  const sign = s.startsWith("-") ? -1 : 1;
  if (body === "nan") return NaN;
  if (body === "inf" || body === "infinity") return sign * Infinity;
  return Number(s);
}

function validateBool(x: Py): boolean {
  if (typeof x === "boolean") return x;
  if (typeof x === "string") {
    const lower = /^[\x00-\x7f]*$/.test(x) ? x.toLowerCase() : x;
    if (["0", "f", "n", "no", "off", "false"].includes(lower)) return false;
    if (["1", "t", "y", "on", "yes", "true"].includes(lower)) return true;
    throw invalid("a valid boolean, unable to interpret input", x);
  }
  if (x instanceof PyInt || typeof x === "number") {
    const n = x instanceof PyInt ? x.v : Number.isInteger(x) && Math.abs(x) < 2 ** 63 ? BigInt(x) : undefined;
    if (n === 0n) return false;
    if (n === 1n) return true;
    throw invalid("a valid boolean, unable to interpret input", x);
  }
  throw invalid("a valid boolean", x);
}

/** dict[str, Any]: a dict (only JSON gives one here), keys str, values as they are. */
function validateDict(x: Py): Map<string, Py> {
  if (x instanceof Map) return new Map(x);
  throw invalid("a valid dictionary", x);
}

/** list[T] in lax mode: a list, tuple or set (never a str or dict), each item validated. */
function validateList(x: Py, item: FieldType): Py[] {
  const items = Array.isArray(x) ? x : x instanceof PyTuple || x instanceof PySet ? x.items : undefined;
  if (items === undefined) throw invalid("a valid list", x);
  return items.map((v) => validate(v, item));
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/**
 * pydantic-core's `LiteralLookup.validate`: an exact bool, an exact int (within i64; a larger
 * int input against int members is an error), an exact str, then Python equality with the other
 * members (floats, big ints), then with the bool/int/str ones (so True matches 1, 2.0 matches 2).
 * The member is returned, not the input.
 */
function validateLiteral(x: Py, members: Py[]): Py {
  const inI64 = (m: Py) => m instanceof PyInt && m.v >= I64_MIN && m.v <= I64_MAX;
  if (typeof x === "boolean") {
    const m = members.find((m) => m === x);
    if (m !== undefined) return m;
  }
  const ints = members.filter(inI64);
  if (ints.length > 0 && x instanceof PyInt) {
    if (x.v < I64_MIN || x.v > I64_MAX) throw invalid("a valid integer (too large for a literal lookup)", x);
    const m = ints.find((m) => (m as PyInt).v === x.v);
    if (m !== undefined) return m;
  }
  if (typeof x === "string") {
    const m = members.find((m) => m === x);
    if (m !== undefined) return m;
  }
  const others = members.filter((m) => typeof m === "number" || (m instanceof PyInt && !inI64(m)));
  const primitives = members.filter((m) => typeof m === "boolean" || typeof m === "string" || inI64(m));
  const m = others.find((m) => pyEquals(x, m)) ?? primitives.find((m) => pyEquals(x, m));
  if (m !== undefined) return m;
  throw invalid(members.map((m) => reprPy(m)).join(", ").replace(/, ([^,]*)$/, " or $1"), x);
}

// --- json_repair.loads --------------------------------------------------------------------------

const STRING_DELIMITERS = ['"', "'", "“", "”"];
const MAX_DEPTH = 100;

/**
 * json_repair 0.64.6 `loads` (repair_json with return_objects=True), where it repairs nothing:
 * valid JSON (Python's json.loads) is its value. Otherwise its parser skips characters at the top
 * level until `{`, `[`, a `(` that can start a value, or a comment (`#`, `//`, `/*`, which it skips);
 * nothing found is "". A container it finds after other text (or followed by text other than a
 * comma) is read with json's raw_decode when valid; what follows it is scanned the same way and
 * must find nothing. Everything else (a real repair, a tuple, a missing opening brace) is unsure.
 */
function jsonRepairLoads(text: string): Py {
  const whole = jsonLoads(text);
  if (whole !== undefined) return whole;
  const first = firstNonSpace(text, 0);
  if (first < text.length && STRING_DELIMITERS.includes(text[first]!) && lastNonSpaceChar(text) === "}") throw new Unsure("json_repair: missing opening brace");
  let found: { value: Py } | undefined;
  let comments = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "{" || c === "[") {
      if (found) throw new Unsure("json_repair: a second value"); // parsed and merged with the first
      const decoded = rawDecode(text, i);
      if (decoded === undefined) throw new Unsure("json_repair: array/object repair");
      if (i === 0) {
        // _initial_container_has_non_comma_trailing_content: else the array/object parser runs
        const next = firstNonSpace(text, decoded.end);
        if (next >= text.length || text[next] === ",") throw new Unsure("json_repair: array/object repair");
      }
      found = { value: decoded.value };
      i = decoded.end;
    } else if (c === "(") {
      if (parenthesizedCanStartValue(text, i)) throw new Unsure("json_repair: tuple");
      i++;
    } else if (c === "#" || c === "/") {
      if (++comments > 100) throw new Unsure("json_repair: comment recursion"); // a RecursionError it turns into ValueError
      i = skipComment(text, i);
    } else {
      i++;
    }
  }
  return found ? found.value : "";
}

function firstNonSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length && isPySpace(text[i])) i++;
  return i;
}

function lastNonSpaceChar(text: string): string | undefined {
  let i = text.length - 1;
  while (i >= 0 && isPySpace(text[i])) i--;
  return text[i];
}

/** json_repair `skip_comment` at the top level: `#` or `//` to the line end, `/* … *\/`, or a lone `/`. */
function skipComment(text: string, i: number): number {
  if (text[i] === "#" || text[i + 1] === "/") {
    while (i < text.length && text[i] !== "\n" && text[i] !== "\r") i++;
    return i;
  }
  if (text[i + 1] !== "*") return i + 1;
  let comment = "/*";
  i += 2;
  while (i < text.length) {
    comment += text[i++];
    if (comment.endsWith("*/")) break;
  }
  return i;
}

/** json_repair `top_level_parenthesized_can_start_value` for the `(` at `index`. */
function parenthesizedCanStartValue(text: string, index: number): boolean {
  for (let i = index - 1; i >= 0 && text[i] !== "\n" && text[i] !== "\r"; i--) {
    if (!isPySpace(text[i])) return false;
  }
  const innerAt = firstNonSpace(text, index + 1);
  if (innerAt >= text.length) return false;
  const inner = String.fromCodePoint(text.codePointAt(innerAt)!);
  const head = text.slice(innerAt, innerAt + 5).replace(/[A-Z]+/g, (s) => s.toLowerCase());
  if (/[^\x00-\x7f]/.test(inner) && /\p{N}/u.test(inner)) throw new Unsure("json_repair: str.isdigit beyond ASCII");
  const startsValue =
    [")", "{", "[", "(", ...STRING_DELIMITERS].includes(inner) || (inner >= "0" && inner <= "9") || inner === "-" || inner === "." || ["true", "null", "none"].includes(head.slice(0, 4)) || head === "false";
  if (!startsValue) return false;
  let parens = 0;
  let brackets = 0;
  let braces = 0;
  let quote: string | undefined;
  let backslashes = 0;
  for (let i = index + 1; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "\\") {
      backslashes++;
      continue;
    }
    if (quote !== undefined) {
      if (ch === quote && backslashes % 2 === 0) quote = undefined;
      backslashes = 0;
      continue;
    }
    if (STRING_DELIMITERS.includes(ch) && backslashes % 2 === 0) {
      quote = ch;
      backslashes = 0;
      continue;
    }
    backslashes = 0;
    if (ch === "(") parens++;
    else if (ch === ")") {
      if (parens === 0 && brackets === 0 && braces === 0) {
        for (let j = i + 1; j < text.length; j++) {
          if (text[j] === "\n" || text[j] === "\r") return true;
          if (!isPySpace(text[j])) return false;
        }
        return true;
      }
      parens--;
    } else if (ch === "[") brackets++;
    else if (ch === "]" && brackets > 0) brackets--;
    else if (ch === "{") braces++;
    else if (ch === "}" && braces > 0) braces--;
  }
  return true;
}

// --- Python's json (json.loads, JSONDecoder.raw_decode) ---------------------------------------

class JsonFail extends Error {}

/** `json.loads(text)`, or undefined where it raises. */
function jsonLoads(text: string): Py | undefined {
  try {
    const start = skipJsonSpace(text, 0);
    const [value, end] = jsonValue(text, start, 0);
    return skipJsonSpace(text, end) === text.length ? value : undefined;
  } catch (e) {
    if (e instanceof JsonFail) return undefined;
    throw e;
  }
}

/** `json.JSONDecoder().raw_decode(text[start:])`: a value and where it ends, or undefined. */
function rawDecode(text: string, start: number): { value: Py; end: number } | undefined {
  try {
    const [value, end] = jsonValue(text, start, 0);
    return { value, end };
  } catch (e) {
    if (e instanceof JsonFail) return undefined;
    throw e;
  }
}

function skipJsonSpace(text: string, i: number): number {
  while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  return i;
}

const JSON_NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;

function jsonValue(text: string, i: number, depth: number): [Py, number] {
  if (depth > MAX_DEPTH) throw new Unsure("json: recursion limit");
  const c = text[i];
  if (c === "{") return jsonObject(text, i + 1, depth + 1);
  if (c === "[") return jsonArray(text, i + 1, depth + 1);
  if (c === '"') return jsonStr(text, i + 1);
  for (const [word, value] of JSON_WORDS) if (text.startsWith(word, i)) return [value, i + word.length];
  JSON_NUMBER.lastIndex = i;
  const m = JSON_NUMBER.exec(text);
  if (m === null) throw new JsonFail();
  if (m[0].length > 4000) throw new Unsure("int over 4000 digits");
  const value = m[1] === undefined && m[2] === undefined ? new PyInt(BigInt(m[0])) : Number(m[0]);
  return [value, i + m[0].length];
}

const JSON_WORDS: [string, Py][] = [["null", null], ["true", true], ["false", false], ["NaN", NaN], ["Infinity", Infinity], ["-Infinity", -Infinity]];

function jsonObject(text: string, i: number, depth: number): [Py, number] {
  const out = new Map<string, Py>();
  i = skipJsonSpace(text, i);
  if (text[i] === "}") return [out, i + 1];
  for (;;) {
    if (text[i] !== '"') throw new JsonFail();
    const [key, afterKey] = jsonStr(text, i + 1);
    i = skipJsonSpace(text, afterKey);
    if (text[i] !== ":") throw new JsonFail();
    const [value, afterValue] = jsonValue(text, skipJsonSpace(text, i + 1), depth);
    out.set(key, value);
    i = skipJsonSpace(text, afterValue);
    if (text[i] === "}") return [out, i + 1];
    if (text[i] !== ",") throw new JsonFail();
    i = skipJsonSpace(text, i + 1);
  }
}

function jsonArray(text: string, i: number, depth: number): [Py, number] {
  const out: Py[] = [];
  i = skipJsonSpace(text, i);
  if (text[i] === "]") return [out, i + 1];
  for (;;) {
    const [value, after] = jsonValue(text, i, depth);
    out.push(value);
    i = skipJsonSpace(text, after);
    if (text[i] === "]") return [out, i + 1];
    if (text[i] !== ",") throw new JsonFail();
    i = skipJsonSpace(text, i + 1);
  }
}

const JSON_STRING_ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** A JSON string from after its opening quote (strict: no raw control characters). */
function jsonStr(text: string, i: number): [string, number] {
  let out = "";
  for (;;) {
    const c = text[i];
    if (c === undefined || c < " ") throw new JsonFail();
    if (c === '"') return [out, i + 1];
    if (c !== "\\") {
      out += c;
      i++;
      continue;
    }
    const e = text[i + 1];
    if (e === "u") {
      const hexDigits = text.slice(i + 2, i + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hexDigits)) throw new JsonFail();
      const unit = parseInt(hexDigits, 16);
      // Python joins an escaped pair (\uD83D\uDE00) into one character, as a JS string does, but
      // not an escaped half with a raw one, which a JS string would join.
      const rawLowAfter = unit >= 0xd800 && unit <= 0xdbff && /^[\udc00-\udfff]/.test(text[i + 6] ?? "");
      const rawHighBefore = unit >= 0xdc00 && unit <= 0xdfff && /[\ud800-\udbff]$/.test(out) && !escapedHighBefore(text, i);
      if (rawLowAfter || rawHighBefore) throw new Unsure("json: escaped and raw surrogates");
      out += String.fromCharCode(unit);
      i += 6;
      continue;
    }
    const plain = e === undefined ? undefined : JSON_STRING_ESCAPES[e];
    if (plain === undefined) throw new JsonFail();
    out += plain;
    i += 2;
  }
}

/** Whether an escaped high surrogate (\uD8xx-\uDBxx) ends right before `at`. */
function escapedHighBefore(text: string, at: number): boolean {
  return at >= 6 && /^\\u[dD][89abAB][0-9a-fA-F]{2}$/.test(text.slice(at - 6, at));
}

// --- ast.literal_eval ---------------------------------------------------------------------------

type Token = { kind: "num"; value: PyInt | number | PyComplex } | { kind: "str"; value: string; f: boolean } | { kind: "name"; id: string } | { kind: "op"; op: string };
type Node = { kind: "const"; value: Py } | { kind: "tuple"; items: Node[] } | { kind: "set" } | { kind: "unary"; op: string; operand: Node } | { kind: "binop"; op: string; left: Node; right: Node } | { kind: "fstring" };

/** `ast.literal_eval(text)`, or the text itself where that raises ValueError or SyntaxError. */
function literalEvalOrRaw(text: string): Py {
  try {
    return literalEval(text);
  } catch (e) {
    if (e instanceof NotLiteral) return text;
    throw e;
  }
}

function literalEval(text: string): Py {
  if (text.includes("\0")) throw new NotLiteral(); // "source code string cannot contain null bytes"
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text)) throw new NotLiteral(); // UnicodeEncodeError
  if (text.includes("\r")) throw new Unsure("literal_eval: carriage return");
  const tokens = tokenize(text.replace(/^[ \t]+/, ""));
  const parser = new LiteralParser(tokens);
  const node = parser.expressions();
  if (!parser.done()) throw new NotLiteral();
  return convert(node);
}

/** The `_convert` of ast.literal_eval, for the nodes a text without brackets or braces can give. */
function convert(node: Node): Py {
  if (node.kind === "const") return node.value;
  if (node.kind === "tuple") return new PyTuple(node.items.map(convert));
  if (node.kind === "set") return new PySet([]);
  if (node.kind === "binop") {
    // only real ± imaginary, as complex(float(real) ± re, 0.0 ± im)
    const left = convertSignedNum(node.left);
    const right = convertNum(node.right);
    if (left instanceof PyComplex || !(right instanceof PyComplex)) throw new NotLiteral();
    const real = left instanceof PyInt ? Number(left.v) : left;
    if (!Number.isFinite(real) && left instanceof PyInt) throw new Unsure("literal_eval: int too large for complex");
    return node.op === "+" ? new PyComplex(real + right.re, 0 + right.im) : new PyComplex(real - right.re, 0 - right.im);
  }
  return convertSignedNum(node);
}

/** `_convert_num`: an int, float or complex constant (not a bool). */
function convertNum(node: Node): PyInt | number | PyComplex {
  if (node.kind === "const" && (node.value instanceof PyInt || typeof node.value === "number" || node.value instanceof PyComplex)) return node.value;
  throw new NotLiteral();
}

/** `_convert_signed_num`: a number, or + or - of one. */
function convertSignedNum(node: Node): PyInt | number | PyComplex {
  if (node.kind !== "unary") return convertNum(node);
  const operand = convertNum(node.operand);
  if (node.op === "+") return operand;
  if (operand instanceof PyInt) return new PyInt(-operand.v);
  if (operand instanceof PyComplex) return new PyComplex(-operand.re, -operand.im);
  return -operand;
}

class LiteralParser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  done(): boolean {
    return this.pos === this.tokens.length;
  }

  private peekOp(op: string): boolean {
    const t = this.tokens[this.pos];
    return t !== undefined && t.kind === "op" && t.op === op;
  }

  /** `expressions`: one expression, or a tuple of them with commas. */
  expressions(closing?: string): Node {
    if (closing !== undefined && this.peekOp(closing)) return { kind: "tuple", items: [] };
    const items = [this.sum()];
    let tuple = false;
    while (this.peekOp(",")) {
      this.pos++;
      tuple = true;
      if (this.pos === this.tokens.length || (closing !== undefined && this.peekOp(closing))) break;
      items.push(this.sum());
    }
    return tuple ? { kind: "tuple", items } : items[0]!;
  }

  private sum(): Node {
    let node = this.unary();
    while (this.peekOp("+") || this.peekOp("-")) {
      const op = (this.tokens[this.pos++] as { op: string }).op;
      node = { kind: "binop", op, left: node, right: this.unary() };
    }
    return node;
  }

  private unary(): Node {
    if (this.peekOp("+") || this.peekOp("-")) {
      const op = (this.tokens[this.pos++] as { op: string }).op;
      return { kind: "unary", op, operand: this.unary() };
    }
    const atom = this.atom();
    if (this.peekOp("(")) throw new NotLiteral(); // a call
    return atom;
  }

  private atom(): Node {
    const t = this.tokens[this.pos++];
    if (t === undefined) throw new NotLiteral();
    if (t.kind === "num") return { kind: "const", value: t.value };
    if (t.kind === "str") {
      let value = t.value;
      let f = t.f;
      for (let next = this.tokens[this.pos]; next?.kind === "str"; next = this.tokens[++this.pos]) {
        value += next.value;
        f ||= next.f;
      }
      return f ? { kind: "fstring" } : { kind: "const", value };
    }
    if (t.kind === "name") {
      if (t.id === "True" || t.id === "False") return { kind: "const", value: t.id === "True" };
      if (t.id === "None") return { kind: "const", value: null };
      if (t.id === "set" && this.peekOp("(") && this.tokens[this.pos + 1]?.kind === "op" && (this.tokens[this.pos + 1] as { op: string }).op === ")") {
        this.pos += 2;
        return { kind: "set" };
      }
      throw new NotLiteral();
    }
    if (t.op === "...") return { kind: "const", value: ELLIPSIS };
    if (t.op === "(") {
      const inner = this.expressions(")");
      if (!this.peekOp(")")) throw new NotLiteral();
      this.pos++;
      return inner;
    }
    throw new NotLiteral();
  }
}

const NUMBER_PATTERNS = [
  /0[xX](?:_?[0-9a-fA-F])+/y,
  /0[oO](?:_?[0-7])+/y,
  /0[bB](?:_?[01])+/y,
  /(?:[0-9](?:_?[0-9])*)?\.[0-9](?:_?[0-9])*(?:[eE][+-]?[0-9](?:_?[0-9])*)?|[0-9](?:_?[0-9])*\.(?:[eE][+-]?[0-9](?:_?[0-9])*)?|[0-9](?:_?[0-9])*[eE][+-]?[0-9](?:_?[0-9])*/y,
  /[0-9](?:_?[0-9])*(?=[jJ])/y, // the digits of an imaginary literal ("007j" too)
  /[1-9](?:_?[0-9])*|0(?:_?0)*/y,
];
const FLOAT_PATTERN = 3;
const IMAGINARY_PATTERN = 4;
const STRING_PREFIX = /^(?:[rRuUbBfF]|[bBfF][rR]|[rR][bBfF])$/;

/** Python 3.11's tokenizer, for an eval-mode text after literal_eval's lstrip(" \t"). */
function tokenize(s: string): Token[] {
  const tokens: Token[] = [];
  let depth = 0;
  let atLineStart = true;
  let lineEnded = false; // a logical line with tokens has ended: more tokens are a SyntaxError
  let signs = 0;
  let i = 0;
  while (i < s.length) {
    if (atLineStart && depth === 0) {
      let col = 0;
      while (s[i] === " " || s[i] === "\t") col = s[i++] === " " ? col + 1 : (Math.floor(col / 8) + 1) * 8;
      if (s[i] === "\f") throw new Unsure("literal_eval: form feed");
      if (s[i] === "#") {
        while (i < s.length && s[i] !== "\n") i++;
        if (i >= s.length) break;
      }
      if (s[i] === "\n") {
        i++;
        continue;
      }
      if (col > 0 && s[i] === "\\") throw new Unsure("literal_eval: indented continuation");
      if (col > 0) throw new NotLiteral(); // IndentationError (also for a last line of blanks)
      if (i >= s.length) break;
      if (lineEnded) throw new NotLiteral();
      atLineStart = false;
    }
    const c = s[i]!;
    if (c === " " || c === "\t") {
      i++;
    } else if (c === "\f") {
      throw new Unsure("literal_eval: form feed");
    } else if (c === "#") {
      while (i < s.length && s[i] !== "\n") i++;
    } else if (c === "\n") {
      i++;
      if (depth === 0) {
        atLineStart = true;
        if (tokens.length > 0) lineEnded = true;
      }
    } else if (c === "\\") {
      if (s[i + 1] !== "\n") throw new NotLiteral();
      i += 2;
      if (s.slice(i).trim() === "") throw new Unsure("literal_eval: continuation into nothing");
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(s[i + 1] ?? ""))) {
      i = number(s, i, tokens);
    } else if (c === ".") {
      if (!s.startsWith("...", i)) throw new NotLiteral();
      tokens.push({ kind: "op", op: "..." });
      i += 3;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /[A-Za-z0-9_]*/y;
      m.lastIndex = i;
      const word = m.exec(s)![0];
      const next = s[i + word.length];
      if ((next === "'" || next === '"') && STRING_PREFIX.test(word)) {
        i = string(s, i + word.length, word, tokens);
      } else {
        if (next !== undefined && /[^\x00-\x7f]/.test(next)) throw new NotLiteral(); // a longer (non-ASCII) identifier: never a literal
        tokens.push({ kind: "name", id: word });
        i += word.length;
      }
    } else if (c === "'" || c === '"') {
      i = string(s, i, "", tokens);
    } else if (c === "(" || c === ")" || c === "," || c === "+" || c === "-") {
      if (c === "(" && ++depth > 50) throw new Unsure("literal_eval: nesting");
      if (c === ")" && --depth < 0) throw new NotLiteral();
      if ((c === "+" || c === "-") && ++signs > 100) throw new Unsure("literal_eval: parser limits");
      tokens.push({ kind: "op", op: c });
      i++;
    } else if (c === "[" || c === "{") {
      throw new Unsure("literal_eval: list/dict/set display");
    } else {
      throw new NotLiteral();
    }
  }
  if (depth > 0) throw new NotLiteral();
  return tokens;
}

function number(s: string, i: number, tokens: Token[]): number {
  for (const [k, pattern] of NUMBER_PATTERNS.entries()) {
    pattern.lastIndex = i;
    const m = pattern.exec(s);
    if (m === null) continue;
    const text = m[0];
    const clean = text.replaceAll("_", "");
    const imaginary = (k === FLOAT_PATTERN || k === IMAGINARY_PATTERN) && (s[i + text.length] === "j" || s[i + text.length] === "J");
    const end = i + text.length + (imaginary ? 1 : 0);
    const next = s[end] ?? "";
    if (/[A-Za-z0-9_]/.test(next) || /[^\x00-\x7f]/.test(next)) throw new NotLiteral();
    if (clean.replace(/^0[xob]/i, "").length > 4000) throw new Unsure("int over 4000 digits");
    const value = imaginary ? new PyComplex(0, Number(clean)) : k === FLOAT_PATTERN ? Number(clean) : new PyInt(BigInt(clean));
    tokens.push({ kind: "num", value });
    return end;
  }
  throw new NotLiteral();
}

const STRING_ESCAPES: Record<string, string> = { "\\": "\\", "'": "'", '"': '"', a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };

/** A string literal at `i` (its quote), with `prefix` before it. */
function string(s: string, i: number, prefix: string, tokens: Token[]): number {
  const lower = prefix.toLowerCase();
  if (lower.includes("b")) throw new Unsure("literal_eval: bytes");
  const raw = lower.includes("r");
  const quote = s[i]!;
  const triple = s.startsWith(quote.repeat(3), i);
  const close = triple ? quote.repeat(3) : quote;
  i += close.length;
  let value = "";
  for (;;) {
    if (i >= s.length) throw new NotLiteral(); // unterminated
    if (s.startsWith(close, i)) break;
    const c = s[i]!;
    if (c === "\n" && !triple) throw new NotLiteral();
    if (c !== "\\") {
      value += c;
      i++;
      continue;
    }
    const e = s[i + 1];
    if (e === undefined) throw new NotLiteral();
    if (raw) {
      value += c + e;
      i += 2;
    } else if (e === "\n") {
      i += 2;
    } else if (STRING_ESCAPES[e] !== undefined) {
      value += STRING_ESCAPES[e];
      i += 2;
    } else if (/[0-7]/.test(e)) {
      const m = /[0-7]{1,3}/y;
      m.lastIndex = i + 1;
      const digits = m.exec(s)![0];
      value += String.fromCharCode(parseInt(digits, 8));
      i += 1 + digits.length;
    } else if (e === "x" || e === "u" || e === "U") {
      const width = e === "x" ? 2 : e === "u" ? 4 : 8;
      const digits = s.slice(i + 2, i + 2 + width);
      if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(digits)) throw new NotLiteral(); // truncated escape
      const cp = parseInt(digits, 16);
      if (cp > 0x10ffff) throw new NotLiteral();
      if (cp >= 0xd800 && cp <= 0xdfff) throw new Unsure("literal_eval: surrogate escape"); // a lone surrogate in Python, maybe half a pair in JS
      value += String.fromCodePoint(cp);
      i += 2 + width;
    } else if (e === "N") {
      throw new Unsure("literal_eval: \\N{name}");
    } else {
      value += "\\";
      i += 1;
    }
  }
  tokens.push({ kind: "str", value, f: lower.includes("f") });
  return i + close.length;
}

/**
 * `json.dumps(json.loads(text.strip()), ensure_ascii=False)` when `text` is a JSON object, else
 * undefined: what DSPy's LM client makes of a structured answer it reads as data (lm15 judgments.py
 * `data_part_from_text`, then `legacy_output`). Python's own json: ints and floats stay apart.
 */
export function pyJsonRedump(text: string): string | undefined {
  let value: Py | undefined;
  try {
    value = jsonLoads(pyStrip(text));
  } catch (e) {
    if (e instanceof Unsure) return undefined;
    throw e;
  }
  return value instanceof Map ? dumpsPy(value) : undefined;
}

function dumpsPy(value: Py): string {
  if (value === null) return "null";
  if (value === true || value === false) return value ? "true" : "false";
  if (typeof value === "string") return pyJsonDumps(value);
  if (typeof value === "number") return Number.isNaN(value) ? "NaN" : value === Infinity ? "Infinity" : value === -Infinity ? "-Infinity" : pyFloatRepr(value);
  if (value instanceof PyInt) return value.v.toString();
  if (Array.isArray(value)) return `[${value.map(dumpsPy).join(", ")}]`;
  if (value instanceof Map) return `{${[...value].map(([k, v]) => `${pyJsonDumps(k)}: ${dumpsPy(v)}`).join(", ")}}`;
  throw new Unsure("not a JSON value");
}
