/**
 * Python's text formatting, as DSPy 3.4.1 applies it to values (dspy/adapters/utils.py and the
 * str/json/float methods it calls), for values that reached Python as JSON written by Node's
 * JSON.stringify: a JS number is a Python float iff JSON.stringify writes it with ".", "e" or "E"
 * (1.5, 1e+21), otherwise an int (1, -0 → 0); non-finite numbers (which JSON cannot carry) are
 * taken as the Python floats nan/inf/-inf a native parse gives; a bigint is an int.
 * test/nativeParseValue.test.ts holds every function here to the real Python.
 */

/** Python's str.isspace() characters (what str.strip() and str.split() take as whitespace). */
const PY_SPACE = new Set([..."\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"]);

export function isPySpace(ch: string | undefined): boolean {
  return ch !== undefined && PY_SPACE.has(ch);
}

/** `str.strip()` with no argument. */
export function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && PY_SPACE.has(s[start]!)) start++;
  while (end > start && PY_SPACE.has(s[end - 1]!)) end--;
  return s.slice(start, end);
}

/** `str.splitlines()`: no line ends kept, no empty last line for a trailing line break. */
export function pySplitlines(s: string): string[] {
  const lines = s.split(/\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Whether Python holds this JS number as a float (see the module comment). */
export function isPyFloat(n: number): boolean {
  return !Number.isFinite(n) || /[.eE]/.test(JSON.stringify(n));
}

/** `repr(float)`: the shortest digits that round-trip (as JS's), in exponent form below 1e-4 and from 1e16. */
export function pyFloatRepr(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (!Number.isFinite(n)) return n > 0 ? "inf" : "-inf";
  if (n === 0) return Object.is(n, -0) ? "-0.0" : "0.0";
  const sign = n < 0 ? "-" : "";
  const [mantissa, exponent] = Math.abs(n).toExponential().split("e") as [string, string];
  const digits = mantissa.replace(".", "");
  const exp = Number(exponent);
  if (exp < -4 || exp >= 16) {
    const abs = String(Math.abs(exp)).padStart(2, "0");
    return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ""}e${exp < 0 ? "-" : "+"}${abs}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return `${sign}${digits.padEnd(exp + 1, "0")}.0`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

/** Python's str()/repr() of an int or float held as a JS number. */
function numberText(n: number): string {
  return isPyFloat(n) ? pyFloatRepr(n) : JSON.stringify(n);
}

/** `json.dumps(value, ensure_ascii=False)`, or with `indent` (`json.dumps(value, indent=indent, ensure_ascii=False)`). */
export function pyJsonDumps(value: unknown, indent?: number): string {
  return dumps(value, indent === undefined ? undefined : " ".repeat(indent), "");
}

function dumps(value: unknown, indent: string | undefined, current: string): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return jsonString(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
    return numberText(value);
  }
  const entries = Array.isArray(value) ? value.map((v) => dumps(v, indent, current + (indent ?? ""))) : objectEntries(value).map(([k, v]) => `${jsonString(k)}: ${dumps(v, indent, current + (indent ?? ""))}`);
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  if (entries.length === 0) return open + close;
  if (indent === undefined) return open + entries.join(", ") + close;
  const inner = `\n${current}${indent}`;
  return `${open}${inner}${entries.join(`,${inner}`)}\n${current}${close}`;
}

function objectEntries(value: unknown): [string, unknown][] {
  if (value !== null && typeof value === "object") return Object.entries(value);
  throw new TypeError(`Object of type ${typeof value} is not JSON serializable`);
}

/** json's py_encode_basestring: \" \\ \n \r \t \b \f, other controls below 0x20 as \u00XX; the rest as is. */
function jsonString(s: string): string {
  const escaped = s.replace(/[\x00-\x1f"\\]/g, (ch) => JSON_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return `"${escaped}"`;
}

const JSON_ESCAPES: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f" };

/** `str(serialize_for_json(value))`, or `json.dumps(serialize_for_json(value), ensure_ascii=False)` for a list or dict: how DSPy writes a value into a prompt. */
export function pyStr(value: unknown): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value) || (value !== null && typeof value === "object")) {
    // pydantic cannot serialize a dict key with a lone surrogate: serialize_for_json falls back to str(value)
    return hasSurrogateKey(value) ? pyRepr(value) : pyJsonDumps(jsonMode(value));
  }
  return pyRepr(value);
}

function hasSurrogateKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasSurrogateKey);
  if (value === null || typeof value !== "object") return false;
  return Object.entries(value).some(([k, v]) => LONE_SURROGATE.test(k) || hasSurrogateKey(v));
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** pydantic's dump_python(mode="json"): a nested nan or infinity becomes None (a top-level one stays a float). */
function jsonMode(value: unknown): unknown {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(jsonMode);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonMode(v)]));
  return value;
}

/**
 * `format_field_value(field_info, value)` (assume_text=True): a list in a `str` field is DSPy's
 * numbered list of blobs (`_format_input_list_field_value`), anything else is `pyStr`.
 * An element DSPy's `_format_blob` cannot take (a number, bool or None: TypeError; a list holding
 * "\n", "«" or "»", or a dict with such a key: AttributeError) throws, as Python raises there.
 */
export function formatFieldValue(value: unknown, annotationIsStr: boolean): string {
  if (Array.isArray(value) && annotationIsStr) {
    if (value.length === 0) return "N/A";
    if (value.length === 1) return formatBlob(value[0]);
    return value.map((blob, i) => `[${i + 1}] ${formatBlob(blob)}`).join("\n");
  }
  return pyStr(value);
}

/** `_format_blob`: «text», or a «««-fenced indented block for text with a line break or guillemet. */
function formatBlob(blob: unknown): string {
  const marks = ["\n", "«", "»"];
  if (typeof blob === "string") {
    if (!marks.some((m) => blob.includes(m))) return `«${blob}»`;
    return `«««\n    ${blob.replaceAll("\n", "\n    ")}\n»»»`;
  }
  if (blob !== null && typeof blob === "object") {
    // `"\n" in blob` is a membership test for a list (elements) or a dict (keys); then `blob.replace` fails.
    const members = Array.isArray(blob) ? blob : Object.keys(blob);
    if (!members.some((m) => marks.includes(m as string))) return `«${pyRepr(blob)}»`;
    throw new TypeError(`AttributeError: '${Array.isArray(blob) ? "list" : "dict"}' object has no attribute 'replace'`);
  }
  throw new TypeError(`TypeError: argument of type '${pyTypeName(blob)}' is not iterable`);
}

function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) return "NoneType";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "bigint") return "int";
  if (typeof value === "number") return isPyFloat(value) ? "float" : "int";
  return typeof value;
}

/** Python's `repr()` (which `str()` is, but for a str) of a JSON-like value. */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return numberText(value);
  if (typeof value === "string") return strRepr(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(", ")}]`;
  return `{${objectEntries(value).map(([k, v]) => `${strRepr(k)}: ${pyRepr(v)}`).join(", ")}}`;
}

/** `repr(str)`: single quotes unless the text has ' and no ", escapes for \\, the quote, \t \n \r and characters Python cannot print. */
function strRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x7f || isPrintable(cp)) out += ch;
    else if (cp <= 0xff) out += `\\x${hex(cp, 2)}`;
    else if (cp <= 0xffff) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out + quote;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** Python 3.11's str.isprintable() (Unicode 14.0: not Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs, but for the space). */
function isPrintable(cp: number): boolean {
  let lo = 0;
  let hi = PRINTABLE_STARTS.length - 1;
  if (cp < PRINTABLE_STARTS[0]!) return false;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (PRINTABLE_STARTS[mid]! <= cp) lo = mid;
    else hi = mid - 1;
  }
  return cp < PRINTABLE_ENDS[lo]!;
}

/**
 * The printable ranges of Python 3.11 (unicodedata 14.0.0), as base-36 run lengths alternating
 * non-printable, printable, from U+0000; Node's own Unicode data is newer and would differ.
 * Generated by test/support/parse_value_oracle.py (`printable_runs`); the test checks every code point.
 */
const PRINTABLE_RUNS = [
  "w 2n y c 1 ju 2 6 4 7 1 1 1 k 1 b1 1 12 2 1e 2 3 1 1j 8 r 4 6 h m 1 5c 1 1c 2 1n 2 2t e 1n 2 1d 2 f 1 s 2 1 1",
  "b 5 v 9 22 1 4h 1 8 2 2 2 m 1 7 1 1 3 4 2 9 2 2 2 4 8 1 4 2 1 5 2 p 2 3 1 6 4 2 2 m 1 7 1 2 1 2 1 2 2 1 1 5 4",
  "2 2 3 3 1 7 4 1 1 7 h a 3 1 9 1 3 1 m 1 7 1 2 1 5 2 a 1 3 1 3 2 1 f 4 2 c 7 7 1 3 1 8 2 2 2 m 1 7 1 2 1 5 2 9",
  "2 2 2 3 7 3 4 2 1 5 2 i a 2 1 6 3 3 1 4 3 2 1 1 1 2 3 2 3 3 3 c 4 5 3 3 1 4 2 1 6 1 e l 5 d 1 3 1 n 1 g 2 9 1",
  "3 1 4 7 2 1 3 2 1 2 4 2 a 7 m 1 3 1 n 1 a 1 5 2 9 1 3 1 4 7 2 6 2 1 4 2 a 1 2 d d 1 3 1 1f 1 3 1 6 4 g 2 q 1 3",
  "1 i 3 o 1 9 1 1 2 7 3 1 4 6 1 1 1 8 6 a 2 3 c 1m 4 t 11 2 1 1 1 5 1 o 1 1 1 n 2 5 1 1 1 6 2 a 2 4 w 20 1 10 4",
  "13 1 10 1 f 1 d 11 5i 1 1 5 1 2 ah 1 4 2 7 1 1 1 4 2 15 1 4 2 x 1 4 2 7 1 1 1 4 2 f 1 1l 1 4 2 1v 2 w 3 q 6 2e",
  "2 6 2 hs 1 s 3 2h 7 m 9 o 9 k c d 1 3 1 2 c 2m 2 a 6 a 6 e 1 b 6 2h 7 17 5 1y a v 1 c 4 c 4 1 3 16 2 5 b 18 4",
  "q 6 b 3 1q 2 1t 1 t 2 b 6 a 6 e 2 v 1d 25 3 1b 1 38 8 1o 3 f 3 1o 7 17 2 b 8 17 5 eu 2 6 2 12 2 6 2 8 1 1 1 1",
  "1 1 1 v 2 1h 1 f 1 e 2 6 1 j 2 3 1 9 h o 8 1b h 2 2 r 1 d 3 x f x f 3w 4 if p b l 1ec 2 w 1 9p 5 19 1 1 5 1 2",
  "1k 7 2 e o 9 7 1 7 1 7 1 7 1 7 1 7 1 7 1 7 1 3i y q 1 2h c 5y q c 5 1r 1 2e 2 2v 5 17 1 2m 1 2c c 1b 1 mlp 3",
  "1j 9 9o k 54 8 5n 5 2 1 1 1 5 o 1n 3 a 6 1k 8 1y 8 c 6 38 b u 3 26 1 b 4 x 1 1j 9 e 2 a 2 2v o s a 6 2 6 2 6 9",
  "7 1 7 1 1o 4 3i 2 a 6 8mc c n 4 1d 6is a6 2 2y 12 7 c 5 5 q 1 5 1 1 1 2 1 2 1 3h g cd 2 1i 7 1 w 16 6 1f 1 j 1",
  "4 4 5 1 3r 4 5a 3 6 2 6 2 6 2 3 3 7 1 7 d 2 2 c 1 q 1 j 1 2 1 f 2 e y 3f 5 3 4 19 3 2g 1 d 3 1 1b 1a 3m t 3 1d",
  "f s 4 10 9 u 5 17 5 u 1 11 4 e 16 4e 2 a 6 10 4 10 4 14 8 1g b c 1 f 1 7 1 2 1 b 1 f 1 7 1 2 1v 8n 9 m a 8 o 6",
  "1 16 1 9 1x 6 2 1 1 18 1 2 3 1 2 n 1 20 8 9 1c j 1 2 5 x 3 r 5 1 1s 1k 4 k 2 1e 1 2 5 8 1 3 1 t 2 3 4 a 7 9 7",
  "1s w 13 4 c 9 1i 3 t 2 r 5 q 7 4 c 7 28 21 1j 1f d 1f 7 1a 8 a 86 v 1 16 1 3 2 2 26 14 8 16 m q 12 s k n 9 26",
  "4 10 9 1q 1 5 d p 7 a 6 1h 1 i 8 13 9 2o 1 k b i 1 18 1t 7 1 1 1 4 1 f 1 b 6 1n 5 a 6 4 1 8 2 2 2 m 1 7 1 2 1",
  "5 1 a 2 2 2 3 2 1 6 1 5 7 2 7 3 5 3v 2k 1 5 u 20 8 a 4m 1i 2 12 y 1x b a 6 d j 1m 6 a 1i r 2 f 4 n 55 1o 2s 2b",
  "c 8 2 1 2 8 1 2 1 u 1 2 2 c 9 a 1y 8 2 1a 2 b r 20 8 2b d 21 7b 9 1 19 1 e a t 3 w 2 m 1 e 21 7 1 2 1 18 3 1 1",
  "2 1 9 8 a 6 6 1 2 1 11 1 2 1 6 7 a 8m p 53 1 f 1e d pn 2u 33 1 5 b 5g 218 2r d tr 34h g7 6nt ft 7 v 1 a 4 29 1",
  "a 6 u 2 6 a 1y a a 1 7 1 l 5 j j4 2j 2t 23 4 1l 7 h 1s 5 b 2 e 4qg 8 ye 16 9 6w7 4 1 7 1 2 1 83 19 3 h 4 8 b0",
  "1s4 2z 5 d 3 9 7 a 2 4 3mo 1a 2 n 9 38 1o 6u a 13 2 22 8 34 l 1y 4a k c 2f 9 p 3r 2d 1 1z 1 2 2 1 2 2 2 4 1 c",
  "1 1 1 7 1 1t 1 4 2 8 1 7 1 s 1 4 1 5 1 1 3 7 1 9g 2 84 2 ji f 5 1 f uo v 69 7 1 h 2 7 1 2 1 5 5x 19 3 e 2 a 4",
  "2 8w v h 1m 5 1 yo 7 1 4 1 2 1 f 1 5h 2 g 15 24 4 a 4 2 lt 1w 24 1p 5e 4 1 r 1 2 1 1 2 1 1 a 1 4 1 1 1 1 6 1 4",
  "1 1 1 1 1 1 3 1 2 1 1 2 1 1 1 1 1 1 1 1 1 1 2 1 1 2 4 1 7 1 4 1 4 1 1 1 a 1 h 5 3 1 5 1 h 1g 2 7i 18 4 2s c f",
  "2 f 1 f 1 11 a 4u 1k t d 18 4 9 7 2 e 6 4a rc 5 g 3 d 3 38 c 2h 7 c 4 1 f c 4 1k 8 a 6 14 8 u 2 2 26 9g c e 2",
  "5 3 5 3 7 9 t 3 b 5 6 a a 6 8 8 7 9 43 1 1j 11 a sm wyo w 37d 7 66 2 4g2 e 5rl 2e7 f2 15u 3t7 fcmt 6o",].join(" ");

const [PRINTABLE_STARTS, PRINTABLE_ENDS] = (() => {
  const starts: number[] = [];
  const ends: number[] = [];
  const runs = PRINTABLE_RUNS.split(" ").map((r) => parseInt(r, 36));
  let cp = 0;
  for (let i = 0; i + 1 < runs.length; i += 2) {
    cp += runs[i]!;
    starts.push(cp);
    cp += runs[i + 1]!;
    ends.push(cp);
  }
  return [starts, ends];
})();
