import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { type ParseOutcome, parseValue, toJsonable } from "../src/native/parseValue.js";
import { formatFieldValue, isPySpace, pyFloatRepr, pyJsonDumps, pyRepr, pySplitlines, pyStrip } from "../src/native/pyText.js";
import type { FieldType } from "../src/programs/definition/index.js";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../src/workers/bridgePaths.js";

/**
 * src/native/parseValue.ts and pyText.ts against the real thing: every case runs through DSPy's own
 * parse_value (json_repair, ast.literal_eval, pydantic) and Python's json/str/float in one Python
 * process (test/support/parse_value_oracle.py). Where the native side answers (not "unsure") it must
 * give Python's value, or fail where Python raises ValueError.
 */

type PyOutcome = { ok: true; value: unknown } | { ok: false; error: string } | { crash: string };
interface OracleResponse {
  parse: (PyOutcome & { repair?: PyOutcome })[];
  floats: string[];
  values: { dumps: PyOutcome; dumps2: PyOutcome; formatStr: PyOutcome; formatOther: PyOutcome; repr: string }[];
  strings: { strip: string; splitlines: string[] }[];
  chars: { space: number[]; linebreaks: number[]; printable: string };
}
interface ParseCase {
  v: unknown;
  t: FieldType;
  kind: string;
}

const ORACLE = path.resolve(BRIDGE_DIR, "../test/support/parse_value_oracle.py");

/** Non-finite numbers travel as {"$nonfinite": "NaN"} (JSON has none). */
function encode(request: unknown): string {
  return JSON.stringify(request, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? { $nonfinite: String(v) } : v));
}

function runOracle(request: unknown): OracleResponse {
  const run = spawnSync(BRIDGE_PYTHON, [ORACLE], { input: encode(request), encoding: "utf8", maxBuffer: 1 << 30, env: { ...process.env, PYTHONPATH: BRIDGE_DIR } });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as OracleResponse;
}

// --- cases ----------------------------------------------------------------------------------------

/** mulberry32: a small seeded generator, so a failure reproduces. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof rng>;

const TYPES: FieldType[] = [
  "str", "int", "float", "bool", "dict",
  { list: "str" }, { list: "int" }, { list: "float" }, { list: "bool" }, { list: "dict" }, { list: { list: "int" } },
  { enum: ["a", "b", "yes"] }, { enum: ["positive", "negative", "neutral"] }, { enum: ["1", "2", "True", "None"] },
  { enum: [1, 2, 3] }, { enum: [1.5, 2, -3] }, { enum: [0, 1] }, { enum: [1e21, 5] }, { enum: [9223372036854775808, 7] },
  { enum: [true, false] }, { enum: [true] },
];

const WORDS = [
  "yes", "no", "Yes", "NO", "true", "false", "True", "False", "TRUE", "t", "f", "T", "y", "n", "on", "off", "ON", "Off",
  "None", "none", "null", "NULL", "nil", "N/A", "maybe", "positive", "negative", "neutral", "a", "b", "tru", "null-ish",
  "-", "--5", "...", "Ellipsis", "inf", "nan", "NaN", "Infinity", "-Infinity", "infinity", "+inf", "set()", "set ( )", "set(1)",
  "hello world", "The answer is 42.", "café", "中文答案", "😀", "Ｔｒｕｅ", "١٢٣", "１２", "e", "E5", "_1", "x_y", "if", "lambda: 1",
];

function numberSpelling(r: Rng): string {
  const digits = (n: number) => Array.from({ length: n }, () => String(r.int(10))).join("");
  const int = () => (r.chance(0.2) ? "0" : String(1 + r.int(9))) + digits(r.pick([0, 0, 1, 2, 3, 5, 12, 18, 19, 20, 25]));
  const underscored = (s: string) => s.replace(/(\d)(?=\d)/g, (d) => (r.chance(0.25) ? `${d}_` : d));
  let s = r.pick([
    () => int(),
    () => `${int()}.${digits(1 + r.int(4))}`,
    () => `${int()}.`,
    () => `.${digits(1 + r.int(3))}`,
    () => `${int()}e${r.pick(["", "+", "-"])}${r.int(400)}`,
    () => `${int()}.${digits(r.int(3))}E${r.int(30)}`,
    () => `${int()}.${"0".repeat(1 + r.int(3))}`,
    () => `0${r.pick(["x", "X", "o", "b"])}${r.pick(["1f", "17", "101", "_1", "g", ""])}`,
    () => `${"0".repeat(1 + r.int(3))}${int()}`,
    () => r.pick(["inf", "-inf", "nan", "NaN", "Infinity", "-Infinity", "INF", "+nan", "infinity", "in_f"]),
    () => r.pick(["1,000", "5%", "$5", "5 apples", "3/4", "1 000", "1e", "0-5", "00-5", "0_", "0__1", "1__0", "+-1", "-+1", "- 1", "+ 5", "١", "１", "²", "0.0", "-0", "-0.0", "1_0.5", "1_0e1_0", ".0", "0.", "0_0", "00", "0_1"]),
    () => `${int()}j`,
  ])();
  if (r.chance(0.2)) s = underscored(s);
  if (r.chance(0.3)) s = r.pick(["-", "+", "--", " -", "+-"]) + s;
  return s;
}

const TEXT_CHARS = ["a", "b", "z", "e", "s", " ", " ", "'", '"', "\\", "\n", "\t", "#", ",", ".", "é", "中", "😀", "«", "»", "\u2028", "\x85", "\xa0", "\x1c", "\x00", "\x7f", "\u200b", "/", "`", "“", ":", "1", "0", "x"];
const BRACKETS = ["(", ")", "{", "}", "[", "]"];

/** Short text of awkward characters; brackets (json_repair's business) in one string out of eight. */
function randomString(r: Rng, max = 8): string {
  const pool = r.chance(0.125) ? [...TEXT_CHARS, ...BRACKETS] : TEXT_CHARS;
  return Array.from({ length: r.int(max + 1) }, () => r.pick(pool)).join("");
}

function jsonValue(r: Rng, depth = 0): unknown {
  const scalar = () =>
    r.pick([
      () => r.int(2000) - 1000,
      () => (r.int(20000) - 10000) / 100,
      () => r.pick([0, -0, 1, 1.5, 1e21, 1e-7, 2 ** 53 + 2, 123456789012345680000, -2.5e-300, 9007199254740993]),
      () => r.pick([true, false, null]),
      () => r.pick(["a", "yes", "1", "True", "", " x ", "positive", "2.5", "1_000"]),
      () => randomString(r, 6),
    ])();
  if (depth >= 3 || r.chance(0.45)) return scalar();
  if (r.chance(0.5)) return Array.from({ length: r.int(4) }, () => jsonValue(r, depth + 1));
  const out: Record<string, unknown> = {};
  for (let i = r.int(4); i > 0; i--) out[r.pick(["a", "b", "k", "1", "é", "__proto__", "", "x y"])] = jsonValue(r, depth + 1);
  return out;
}

function jsonText(r: Rng, value: unknown): string {
  const text = JSON.stringify(value, null, r.chance(0.2) ? 2 : undefined) ?? "null";
  return r.chance(0.2) ? text.replace(/,/g, ", ").replace(/:/g, ": ") : text;
}

/** JSON-ish text that (mostly) fits `type`, numbers and booleans spelled several ways. */
function textFor(r: Rng, type: FieldType, depth = 0): string {
  const sp = () => r.pick(["", "", " ", "\n  "]);
  if (type === "int") return r.pick([String(r.int(2000) - 1000), `${r.int(50)}.0`, `${r.int(9)}e${r.int(3)}`, String(2 ** 53 + r.int(10)), "9223372036854775807", `-${r.int(99)}`]);
  if (type === "float") return r.pick([String((r.int(20000) - 10000) / 64), String(r.int(100)), `${r.int(9)}.${r.int(99)}e${r.int(40) - 20}`, "NaN", "-Infinity", "1e400", "-0.0"]);
  if (type === "bool") return r.pick(["true", "false", "1", "0", "True", "False", "1.0", "0.0", "2"]);
  if (type === "str") return JSON.stringify(r.pick(["a", "b c", "yes", "1", "", "é", randomString(r, 5)]));
  if (type === "dict") return jsonText(r, Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(["a", "b", "key", "1", "é"]), jsonValue(r, 1)])));
  if ("list" in type) {
    if (depth > 2) return "[]";
    return `[${sp()}${Array.from({ length: r.int(5) }, () => textFor(r, type.list, depth + 1)).join(`,${r.pick([" ", "", "\n  "])}`)}${sp()}]`;
  }
  const v = r.pick(type.enum);
  return r.pick([typeof v === "string" ? v : JSON.stringify(v), JSON.stringify(v), ` ${String(v)} `, typeof v === "boolean" ? (v ? "True" : "False") : String(v)]);
}

function pythonLiteral(r: Rng): string {
  const str = () => {
    const body = randomString(r, 5).replace(/[\n]/g, "");
    const q = r.pick(["'", '"']);
    const prefix = r.pick(["", "", "", "r", "u", "R", "b", "f", "rb"]);
    const escaped = body.replaceAll("\\", r.chance(0.5) ? "\\\\" : "\\").replaceAll(q, `\\${q}`);
    return r.chance(0.1) ? `${prefix}${q.repeat(3)}${body.replaceAll(q, "")}${q.repeat(3)}` : `${prefix}${q}${escaped}${q}`;
  };
  const atom = () => r.pick([str, () => numberSpelling(r), () => r.pick(["True", "False", "None", "...", "set()", "x"])])();
  return r.pick([
    () => atom(),
    () => Array.from({ length: 1 + r.int(3) }, atom).join(r.pick([", ", ",", " , "])) + r.pick(["", ","]),
    () => `(${atom()})`,
    () => `(${atom()},)`,
    () => `(${atom()}, ${atom()})`,
    () => `${str()} ${str()}`,
    () => `${r.pick(["-", "+", "- ", "-(", "--"])}${r.int(100)}${r.chance(0.3) ? ")" : ""}`,
    () => `${atom()} # ${randomString(r, 4).replace(/\n/g, "")}`,
    () => `${atom()}\n${r.pick(["", "  ", "#c", "  #c", "\n", "x"])}`,
    () => `\n${r.pick(["", "  "])}${atom()}`,
    () => `[${atom()}, ${atom()}]`,
    () => `{${str()}: ${atom()}}`,
    () => `${atom()} + ${atom()}`,
    () => `'\\x4${r.pick(["1", "g", ""])}' '\\u00e9' '\\N{BULLET}' '\\${r.int(8)}${r.int(8)}'`.split(" ").slice(0, 1 + r.int(4)).join(" "),
  ])();
}

function wrap(r: Rng, s: string): string {
  return r.pick([
    () => `\`\`\`json\n${s}\n\`\`\``,
    () => `\`\`\`\n${s}\n\`\`\``,
    () => `Answer: ${s}`,
    () => `${s} (approx)`,
    () => `(${s})`,
    () => `${s}\n(${s})`,
    () => `"${s}"`,
    () => `'${s}'`,
    () => `“${s}”`,
    () => `Literal[${s}]`,
    () => `str[${s}]`,
    () => `Literal['${s}']`,
    () => `${r.pick([" ", "\n", "\t", "\xa0", "\u3000", "\x1c", " \n "])}${s}${r.pick(["", " ", "\n", "\xa0", "\x1c"])}`,
    () => `${s} # note`,
    () => `${s} // note`,
    () => `/* c */ ${s}`,
    () => `${s}, ${s}`,
    () => `${s} and more text`,
  ])();
}

function handPicked(): string[] {
  return [
    "abc", "5 apples", "+5", "1,000", ".5", "True", "yes", "t", "tru", "null-ish", "-", "--5", "1e", "1 2", "  7  ", "abc [1,2]",
    "x (1)", "(1, 2)", "5 # c", "3/4", "'a'", "'a': 1}", '"a": 1}', "```json\n[1,2]\n```", "```\n5\n```", "```json\n5\n```", "\ufeff5",
    "\ufeff[1]", "[1,2] trailing", "[1,2], [3]", "x [1] y [2]", "x [1] (2)", "x [1] y\n(2)", "NaN", "-Infinity", "Infinity x", "'abc",
    '"abc', "1_000", "0x1f", "...", "None", "null", "1,2", "a, (1)", "5,\n(6)", "[]x", "x []", "x {}", "x {} y", "{} y", '"abc" x', 'x "abc"',
    "x ()", "(x)", "#x\n[1]", "/* c */ 5", "//c\n[1]", "a/b [1]", "\n5", "\n  5", " \n5", "\\\n5", "5\n", "(1,\n2)", "1,\n2", "\x0c5",
    "1 + 2j", "'a' 'b'", "set()", "0_0", "00", "012.5", "-(5)", "- 5", "\x005", "'\ud800'", "f'x'", "b'x'", "u'x'", "'\\N{BULLET}'",
    "0x_1F", "'\\777'", "Ｔｒｕｅ", "\t5", "5\n\n", "5\n  ", "5\n#c\n", "  #c\n5", "5\n  #c", "'\\ud83d\\ude00'", '"\\ud83d\\ude00"',
    '["\\ud83d\\ude00"]', '"\\ud83d"', "[1, 2, 3]", '["a", "b"]', '{"a": 1, "b": [1, 2.5, null]}', '{"a": NaN}', "[NaN, Infinity]",
    "[1.0, 2.0]", "[true, 1, 1.0, \"1\"]", '{"1": 2, "b": 3, "1": 4}', "[[1, 2], [3]]", "[[1, 2], 3]", '[{"a": 1}]', "{}", "[]", '""',
    "''", '" "', "\"'a'\"", "'\"a\"'", "Literal['a']", "Literal[a]", "str[a]", "Literal[\"yes\"]", "  a  ", "A", "Positive", "positive.",
    "1", "2", "1.0", "2.0", "3.0", "-3", "-3.0", "1.5", "True", "true", "1e0", "01", "0", "false", "False", "FALSE", "on", "[1]", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "99999999999999999999", "1e21", "1e400", "-1e400", "1e-400", "4.9e-324", "9007199254740993",
    "0.1", "100000000000000000000.0", "1" + "0".repeat(30), "0-5", "0_", "0.0", ".0", "0.", "1_0.5", " 1_0.5", "1_0.5 ", "in_f",
    "[1, 2", "[1, 2,]", "{'a': 1}", "['a', 'b']", "[\"a\", 'b']", "(1)", "()", "(,)", "1 if 1 else 2", "not 1", "~1", "1 < 2",
    "'a' * 2", "r'\\d'", "'\\d'", "'''a\nb'''", '"""a"""', "'a\\\nb'", "R'x'", "Rb'x'", "fr'x'", "'a' f'b'", "'\\x41'", "'\\x4'",
    "'\\u00e9'", "'\\U0001F600'", "'\\U00110000'", "'\\101'", "'\\0'", "\"\\'\"", "'\\a\\b\\f\\v'", "1.e5", "1.5e", "1._5", "1e+", "0b12",
    "0o8", "007", "007.5", "1__0", "1_", "0x", "5abc", "1'a'", "1.real", "1 .real", "-True", "-...", "-'a'", "- -5", "+(-2)", "-(5,)",
    "(1)(2)", "set()()", "x, set()", "1, set()", "(set())", "'a' # [1]", "# only a comment", "", " ", "\n", "\t", "\\", "'\\'", "r'\\'",
    "a\x00b", "\ud800", "x\udc00", "😀", "[\"😀\"]", "“a”", "”a”", "“a”: 1}", "'a' }", '"a" }', "( 1 )", "(\n1\n)", "(-1)", "(\"a\")",
    "('a', 'b')", "([1])", "(1, [2])", "x\n(1, 2)", "x (1, 2)\n", "  (1, 2)  ", "(abc)", "(true)", "(None)", "(“a”)", "(٣)",
    '{"a": 1} trailing', '{"a": 1}, {"b": 2}', '{"a": 1} {"b": 2}', ' {"a": 1}', '{"a": 1}\xa0', '[1]\x1c', "Answer: [1, 2]. Done.",
    "```json\n{\"a\": [1, 2]}\n```", "```python\n['a']\n```", "Here: ```json\n[1]\n``` and ```json\n[2]\n```", "[1] // c", "[1] # c [2]",
    "/[1]", "//[1]", "/*[1]*/", "/*/ [1]", "#", "/", "(", ")", "((1))", "-(-(1))", '"\\u0041"', '"\\x41"', "[1e400]", "[-0]", "-0",
    "[1, -0.0]", '"\\ud83d\\ude00"', "\"\\ud83d\ude00\"", "\"\ud83d\\ude00\"", "[\"\\udc00\"]", "1+0j", "0j", "-0j", "1.5+0j", "1.5 + 0J", "2j", "1 - 0j", "-1 + 0j", "1j + 1", "1 + 2j + 3", "(1+0j)", "1, 0j", "01j", "007j",
    "0x1j", "1jx", "1_0j", "1e1j", "1.j", "+0j", "-(1j)", "True + 0j", "1 + True", "1" + "0".repeat(400) + " + 0j", "[".repeat(70) + "1.0" + "]".repeat(70),
    '{"a": ' + "[".repeat(70) + '1.5, "x"' + "]".repeat(70) + "}", "\"\\ud83d😀\"", "1" + "0".repeat(4400), "[" + "1".repeat(4400) + "]", "[".repeat(150) + "]".repeat(150),
  ];
}

function buildParseCases(): ParseCase[] {
  const cases: ParseCase[] = [];
  for (const v of handPicked()) for (const t of TYPES) cases.push({ v, t, kind: "hand-picked" });
  const r = rng(20_251_208);
  for (let i = 0; i < 4000; i++) {
    // roughly what an LM writes in a field: numbers, words, JSON, now and then a Python literal or odd text
    const [kind, gen] = r.pick([
      ["number", () => numberSpelling(r)],
      ["number", () => numberSpelling(r)],
      ["number", () => numberSpelling(r)],
      ["word", () => r.pick(WORDS)],
      ["word", () => r.pick(WORDS)],
      ["json", () => jsonText(r, jsonValue(r))],
      ["json", () => jsonText(r, jsonValue(r))],
      ["json", () => jsonText(r, jsonValue(r))],
      ["python literal", () => pythonLiteral(r)],
      ["unicode/text", () => randomString(r, 10)],
    ] as const);
    let v = gen();
    let wrapped = kind as string;
    for (let w = r.chance(0.35) ? 1 + r.int(2) : 0; w > 0; w--) {
      v = wrap(r, v);
      wrapped = `wrapped ${kind}`;
    }
    cases.push({ v, t: r.pick(TYPES), kind: wrapped });
  }
  for (let i = 0; i < 2000; i++) {
    const t = r.pick(TYPES);
    let v = textFor(r, t);
    let kind = "typed json";
    if (r.chance(0.25)) {
      v = wrap(r, v);
      kind = "wrapped typed json";
    }
    cases.push({ v, t, kind });
  }
  for (let i = 0; i < 1000; i++) {
    const t = r.pick(TYPES);
    const v = r.chance(0.5) ? jsonValue(r) : jsonOr(textFor(r, t).replace(/\bNaN\b|-?Infinity|1e400|True|False/g, "0"));
    cases.push({ v, t, kind: "JSON value (JSONAdapter)" });
  }
  return cases;
}

function buildFloats(r: Rng): number[] {
  const out = [0, -0, 1, -1, 0.1, 1e-4, 1e-5, 9.999e-5, 1e15, 1e16, 9999999999999998, 1e16 - 2, 1e17, 1e21, 1e22, 123456789.0, 5e-324, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, 2 ** 63, 0.3, 2 / 3, 1 / 3, 100, 1.5e300, -1.5e-300, NaN, Infinity, -Infinity];
  const view = new DataView(new ArrayBuffer(8));
  for (let i = 0; i < 3000; i++) {
    if (r.chance(0.5)) {
      view.setUint32(0, r.int(2 ** 32));
      view.setUint32(4, r.int(2 ** 32));
      out.push(view.getFloat64(0));
    } else {
      out.push(Number(`${r.int(100000)}e${r.int(50) - 25}`) * (r.chance(0.5) ? 1 : -1));
    }
  }
  return out;
}

function floatHex(n: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, n);
  return Array.from(new Uint8Array(view.buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Runs `fn` as Python's outcome shape, for comparing functions that may raise. */
function jsOutcome(fn: () => string): { ok: true; value: string } | { ok: false } {
  try {
    return { ok: true, value: fn() };
  } catch {
    return { ok: false };
  }
}

function sameOutcome(ts: { ok: true; value: string } | { ok: false }, py: PyOutcome): boolean {
  if ("crash" in py || !py.ok) return !ts.ok;
  return ts.ok && ts.value === py.value;
}

// --- the tests ------------------------------------------------------------------------------------

describe("native parse_value and Python text formatting against DSPy", function () {
  this.timeout(180_000);
  const parseCases = buildParseCases();
  const r = rng(7);
  const floats = buildFloats(r);
  const values: unknown[] = [
    ...Array.from({ length: 1500 }, () => jsonValue(r)),
    [NaN, 1.5, Infinity],
    { a: -Infinity, b: [NaN] },
    NaN,
    -Infinity,
    [],
    {},
    [[]],
    [{}],
    ["a\nb", "c«", "»"],
    ["x"],
    [1],
    [null],
    [true],
    [["\n"]],
    [{ "\n": 1 }],
    [{ a: "\n" }],
    [["a", 1.5]],
    ["\ud800", "x"],
    "\ud800",
    { "\ud800": 1 },
  ];
  const strings = [...Array.from({ length: 1500 }, () => randomString(r, 12)), "", "\r\n", "a\r\n", "\n\n", "a\x0bb\x0cc\x1cd\x1de\x1ef\x1fg", " \ufeff ", "\u180e x \u200b"];
  let oracle: OracleResponse;

  before(() => {
    oracle = runOracle({ parse: parseCases.map(({ v, t }) => ({ v, t })), floats: floats.map(floatHex), values, strings, chars: true });
  });

  it("pyFloatRepr is repr(float)", () => {
    const bad = floats.map((n, i) => [n, pyFloatRepr(n), oracle.floats[i]]).filter(([, ts, py]) => ts !== py);
    assert.deepEqual(bad.slice(0, 10), []);
  });

  it("pyJsonDumps, formatFieldValue and pyRepr are json.dumps, format_field_value and repr", () => {
    const bad: unknown[] = [];
    values.forEach((v, i) => {
      const py = oracle.values[i]!;
      const checks: [string, () => string, PyOutcome | string][] = [
        ["dumps", () => pyJsonDumps(v), py.dumps],
        ["dumps2", () => pyJsonDumps(v, 2), py.dumps2],
        ["formatStr", () => formatFieldValue(v, true), py.formatStr],
        ["formatOther", () => formatFieldValue(v, false), py.formatOther],
        ["repr", () => pyRepr(v), py.repr],
      ];
      for (const [name, fn, expected] of checks) {
        const ts = jsOutcome(fn);
        const same = typeof expected === "string" ? ts.ok && ts.value === expected : sameOutcome(ts, expected);
        if (!same) bad.push({ name, value: v, ts, py: expected });
      }
    });
    assert.deepEqual(bad.slice(0, 10), []);
  });

  it("pyStrip and pySplitlines are str.strip() and str.splitlines()", () => {
    const bad = strings.map((s, i) => ({ s, ts: { strip: pyStrip(s), splitlines: pySplitlines(s) }, py: oracle.strings[i] })).filter(({ ts, py }) => JSON.stringify(ts) !== JSON.stringify(py));
    assert.deepEqual(bad.slice(0, 10), []);
  });

  it("agrees with Python on every code point: whitespace, line breaks, printable", () => {
    const space = new Set(oracle.chars.space);
    const breaks = new Set(oracle.chars.linebreaks);
    const printable = new Uint8Array(0x110000);
    const runs = oracle.chars.printable.split(" ").map((x) => parseInt(x, 36));
    for (let i = 0, cp = 0; i + 1 < runs.length; i += 2) {
      cp += runs[i]!;
      printable.fill(1, cp, cp + runs[i + 1]!);
      cp += runs[i + 1]!;
    }
    const bad: string[] = [];
    for (let cp = 0; cp < 0x110000; cp++) {
      const ch = String.fromCodePoint(cp);
      if (isPySpace(ch) !== space.has(cp)) bad.push(`space U+${cp.toString(16)}`);
      if ((pySplitlines(`a${ch}b`).length === 2) !== breaks.has(cp)) bad.push(`linebreak U+${cp.toString(16)}`);
      if (cp > 0x7f && cp !== 0x27 && (pyRepr(ch) === `'${ch}'`) !== (printable[cp] === 1)) bad.push(`printable U+${cp.toString(16)}`);
    }
    assert.deepEqual(bad.slice(0, 20), []);
  });

  it("parseValue is parse_value wherever it is not unsure", () => {
    const mismatches: unknown[] = [];
    const unsure = new Map<string, number>();
    let generated = 0;
    let generatedUnsure = 0;
    const agreed = { values: 0, errors: 0 };
    parseCases.forEach((c, i) => {
      const py = oracle.parse[i]!;
      const ts: ParseOutcome = parseValue(c.v, c.t);
      if (c.kind !== "hand-picked") generated++;
      if (ts.ok === "unsure") {
        const key = `${c.kind} (${ts.reason})`;
        unsure.set(key, (unsure.get(key) ?? 0) + 1);
        if (c.kind !== "hand-picked") generatedUnsure++;
        // plain JSON is never left to the worker (bar Python's own limits, and enum answers DSPy unquotes first)
        const plain = typeof c.v === "string" && isPlainJson(c.v) && !(typeof c.t === "object" && "enum" in c.t);
        if (plain) mismatches.push({ case: c, why: "unsure on plain JSON", py });
        return;
      }
      const agree = "crash" in py ? false : py.ok ? ts.ok === true && deepEqual(toJsonable(ts.value), py.value) : ts.ok === false;
      if (!agree) mismatches.push({ case: c, ts: ts.ok === true ? toJsonable(ts.value) : ts, py });
      else agreed[ts.ok ? "values" : "errors"]++;
    });
    const total = parseCases.length;
    console.log(`      ${total} parse_value cases (${generated} generated): same value ${agreed.values}, both fail ${agreed.errors}; unsure:\n${[...unsure].sort((a, b) => b[1] - a[1]).map(([k, n]) => `        ${n} ${k}`).join("\n")}\n      generated unsure ${generatedUnsure} (${((100 * generatedUnsure) / generated).toFixed(1)}%)`);
    assert.deepEqual(mismatches.slice(0, 15), []);
    assert.ok(generatedUnsure / generated < 0.1, `too many unsure: ${generatedUnsure}/${generated}`);
  });
});

function jsonOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/**
 * Valid JSON by JS's parser (a subset of Python's), within Python's limits and to_jsonable's depth,
 * and without a surrogate escape next to a raw surrogate (Python's json keeps those apart, JS joins them).
 */
function isPlainJson(text: string): boolean {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return false;
  }
  const depth = (v: unknown): number => (v !== null && typeof v === "object" ? 1 + Math.max(0, ...Object.values(v).map(depth)) : 0);
  const mixedSurrogates = /\\u[dD][89a-fA-F]/.test(text) && /[\ud800-\udfff]/.test(text);
  return !/[0-9]{4000}/.test(text) && depth(value) <= 60 && !mixedSurrogates;
}
