/**
 * The corpus the native adapter's conformance suite runs through DSPy and through src/native: one
 * Predict or ChainOfThought module per case, with demos (as an optimization leaves them), inputs, and
 * the LM's scripted answers. Hand-picked cases cover each rule once; a seeded generator adds many more.
 */
export type FieldType = string | { list: FieldType } | { enum: (string | number | boolean)[] };

export interface CorpusCase {
  name: string;
  /** A normalized program (src/programs/definition/programSchema.ts), built directly: list[Literal[...]] has no definition syntax. */
  definition: Record<string, unknown>;
  /** The predictor's compiled state (demos, instructions), keyed by predictor name; null without one. */
  compiledState: Record<string, unknown> | null;
  inputs: Record<string, unknown>;
  /** The LM's answers, in order (a failed parse makes DSPy ask again with JSONAdapter). */
  replies: string[];
  /** The model's name after `openai/` (default "local-model", which DSPy's model metadata does not know). */
  model?: string;
}

interface Field {
  name: string;
  type: FieldType;
  desc?: string;
}

interface Spec {
  kind: "Predict" | "ChainOfThought";
  instructions?: string;
  inputs: Field[];
  outputs: Field[];
}

/** The normalized program (what the workers and the adapters take) of one module's spec. */
function definitionOf(spec: Spec): Record<string, unknown> {
  const fields = (list: Field[]) => Object.fromEntries(list.map((f) => [f.name, f.desc === undefined ? { type: f.type } : { type: f.type, desc: f.desc }]));
  const signature: Record<string, unknown> = { inputs: fields(spec.inputs), outputs: fields(spec.outputs) };
  if (spec.instructions !== undefined) signature.instructions = spec.instructions;
  const ref = (step: string, field: string) => ({ ref: { step, field } });
  return {
    inputs: Object.fromEntries(spec.inputs.map((f) => [f.name, { type: f.type }])),
    outputs: Object.fromEntries(spec.outputs.map((f) => [f.name, { type: f.type }])),
    modules: { m: { type: spec.kind, signature, config: {} } },
    forward: [
      { call: "m", with: Object.fromEntries(spec.inputs.map((f) => [f.name, ref("input", f.name)])), as: "r" },
      { return: Object.fromEntries(spec.outputs.map((f) => [f.name, ref("r", f.name)])) },
    ],
  };
}

function stateOf(spec: Spec, demos: Record<string, unknown>[], instructions?: string, descriptions?: string[]): Record<string, unknown> {
  const names = [...spec.inputs.map((f) => f.name), ...(spec.kind === "ChainOfThought" ? ["reasoning"] : []), ...spec.outputs.map((f) => f.name)];
  return {
    [spec.kind === "ChainOfThought" ? "m.predict" : "m"]: {
      traces: [],
      train: [],
      demos,
      signature: {
        instructions: instructions ?? spec.instructions ?? "",
        fields: names.map((name, i) => ({ prefix: `${name}:`, description: descriptions?.[i] ?? `\${${name}}` })),
      },
      lm: null,
    },
  };
}

/** `[[ ## name ## ]]` sections as a model writes them, then the completion marker. */
export function chatReply(values: [string, string][], marker = true): string {
  return values.map(([name, text]) => `[[ ## ${name} ## ]]\n${text}`).join("\n\n") + (marker ? "\n\n[[ ## completed ## ]]" : "");
}

const caseOf = (name: string, spec: Spec, inputs: Record<string, unknown>, replies: string[], compiledState: Record<string, unknown> | null = null, model?: string): CorpusCase => ({
  name,
  definition: definitionOf(spec),
  compiledState,
  inputs,
  replies,
  ...(model ? { model } : {}),
});

/** One case per rule: formatting, each type's parsing, demos, state, and the JSON fallback. */
export function handPickedCases(): CorpusCase[] {
  const qa: Spec = { kind: "Predict", inputs: [{ name: "question", type: "str" }], outputs: [{ name: "answer", type: "str" }] };
  const cot: Spec = { ...qa, kind: "ChainOfThought" };
  const typed: Spec = {
    kind: "ChainOfThought",
    instructions: "Grade the answer.\n\n    Be strict:\n\t- facts first\n    - then style",
    inputs: [
      { name: "question", type: "str", desc: "The question asked" },
      { name: "passages", type: { list: "str" } },
      { name: "meta", type: "dict" },
      { name: "limit", type: "int" },
      { name: "weight", type: "float" },
      { name: "strict", type: "bool" },
    ],
    outputs: [
      { name: "score", type: "int", desc: "0 to 10" },
      { name: "ratio", type: "float" },
      { name: "ok", type: "bool" },
      { name: "label", type: { enum: ["good", "bad", "it's fine"] } },
      { name: "tags", type: { list: "str" } },
      { name: "facts", type: "dict" },
      { name: "grid", type: { list: { list: "int" } } },
      { name: "level", type: { enum: [1, 2, 3] } },
    ],
  };
  const typedInputs = { question: "Is «this» fine?\nSecond line", passages: ["One.", "Two\nlines", "«quoted»"], meta: { a: 1, b: [true, null], c: "é" }, limit: 3, weight: 0.1, strict: true };
  const typedReply = chatReply([
    ["reasoning", "Because."],
    ["score", "7"],
    ["ratio", "0.75"],
    ["ok", "True"],
    ["label", "it's fine"],
    ["tags", '["a", "b"]'],
    ["facts", '{"x": 1, "y": [1, 2]}'],
    ["grid", "[[1, 2], [3]]"],
    ["level", "2"],
  ]);
  const structured: Spec = {
    kind: "ChainOfThought",
    inputs: [{ name: "question", type: "str" }],
    outputs: [
      { name: "final_answer", type: "str" },
      { name: "score2x", type: "int" },
      { name: "labels", type: { list: { enum: ["a", "b"] } } },
      { name: "rows", type: { list: "dict" } },
      { name: "ok", type: "bool" },
      { name: "level", type: { enum: [1.5, 2] } },
      { name: "ratio", type: "float" },
      { name: "grid", type: { list: { list: "str" } } },
    ],
  };
  const structuredValues = { reasoning: "r", final_answer: "x", score2x: 3, labels: ["a"], rows: [{}], ok: true, level: 2, ratio: 0.5, grid: [["z"]] };
  const demos = [
    { question: "What is 2+2?", answer: "4" },
    { question: "Capital of France?", answer: "Paris", augmented: true },
    { question: "No answer here" },
    { answer: "An answer without its question" },
    { question: "Null answer", answer: null },
  ];
  return [
    caseOf("Predict, one str field", qa, { question: "What is the capital of France?" }, [chatReply([["answer", "Paris"]])]),
    caseOf("ChainOfThought", cot, { question: "Why?" }, [chatReply([["reasoning", "Think.\nThen answer."], ["answer", "Because"]])]),
    caseOf("every type in and out, instructions with indentation and a tab", typed, typedInputs, [typedReply]),
    caseOf("Python spellings: 42.0, true, quoted enum, Literal[...], a Python list", typed, typedInputs, [
      chatReply([["reasoning", "r"], ["score", "42.0"], ["ratio", "1e3"], ["ok", "true"], ["label", "'good'"], ["tags", "['x', 'y']"], ["facts", "{}"], ["grid", "[]"], ["level", "Literal[3]"]]),
    ]),
    caseOf("demos: complete, augmented, incomplete, one-sided, null", qa, { question: "Capital of Italy?" }, [chatReply([["answer", "Rome"]])], stateOf(qa, demos)),
    caseOf("ChainOfThought demos with and without reasoning", cot, { question: "q" }, [chatReply([["reasoning", "r"], ["answer", "a"]])], stateOf(cot, [{ question: "q1", reasoning: "r1", answer: "a1", augmented: true }, { question: "q2", answer: "a2" }])),
    caseOf("optimized instructions and field descriptions from state", qa, { question: "q" }, [chatReply([["answer", "a"]])], stateOf(qa, [], "  Answer tersely.\n  Use one word.", ["The user's question", "One word"])),
    caseOf("text before the first header, header with content on its line, duplicate and unknown headers", qa, { question: "q" }, [
      "Sure! Here you go.\n[[ ## answer ## ]] inline answer\nmore\n\n[[ ## answer ## ]]\nsecond\n\n[[ ## other ## ]]\nx\n\n[[ ## completed ## ]]",
    ]),
    caseOf("missing field: JSON fallback answered with JSON", cot, { question: "q" }, [chatReply([["reasoning", "r"]]), '{"reasoning": "r2", "answer": "from json"}']),
    caseOf("unparseable int: JSON fallback, which fails too", typed, typedInputs, [chatReply([["reasoning", "r"], ["score", "seven"]]), "not json at all"]),
    caseOf("empty answer: JSON fallback", qa, { question: "q" }, ["", '{"answer": "ok"}']),
    caseOf("JSON fallback with a fenced object (json_repair mends it)", qa, { question: "q" }, ["nothing", '```json\n{"answer": "fenced"}\n```']),
    caseOf("JSON fallback: an object inside text", qa, { question: "q" }, ["nothing", 'Here: {"answer": "inside"} done']),
    caseOf("a malformed list (json_repair mends it)", typed, typedInputs, [chatReply([["reasoning", "r"], ["score", "1"], ["ratio", "2"], ["ok", "no"], ["label", "bad"], ["tags", '["a", "b"'], ["facts", "{'k': 'v'}"], ["grid", "[[1]]"], ["level", "1"]])]),
    caseOf("empty instructions, no desc", { ...qa, instructions: "" }, { question: "" }, [chatReply([["answer", ""]])]),
    caseOf("a model DSPy knows supports structured outputs: the JSON fallback sends the outputs' schema", structured, { question: "q" }, ["no sections", JSON.stringify(structuredValues)], null, "gpt-4o-mini"),
    caseOf("structured outputs: an answer with 1.0, 1e5 and non-ASCII text, read as data and written back by DSPy's client", structured, { question: "q" }, ["no sections", ' {"reasoning": "é «x»", "final_answer": "x", "score2x": 3.0, "labels": [], "rows": [], "ok": false, "level": 1.5, "ratio": 1e5, "grid": []} '], null, "gpt-4o-mini"),
    caseOf("the same model with a dict output: the JSON fallback asks for JSON mode", { ...qa, outputs: [{ name: "answer", type: "str" }, { name: "facts", type: "dict" }] }, { question: "q" }, ["no sections", '{"answer": "a", "facts": {"k": 1}}'], null, "gpt-4o-mini"),
  ];
}

/** A deterministic pseudo-random generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ["question", "context", "passages", "topic", "claim", "draft", "answer", "score", "verdict", "tags", "summary", "rating", "items", "facts", "choice", "confidence", "notes", "title", "count", "flag"];
const WORDS = ["Paris", "the", "«quote»", "naïve", "東京", "emoji 🎉", "x\ny", "  padded  ", "tab\there", "[[ ## answer ## ]]", "{braces}", "'single'", '"double"', "back\\slash", "", "None", "True", "42", "1,000", "— dash"];

/** `count` random cases from `seed`. */
export function randomCases(seed: number, count: number): CorpusCase[] {
  const next = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const chance = (p: number) => next() < p;
  const text = () => Array.from({ length: 1 + Math.floor(next() * 4) }, () => pick(WORDS)).join(pick([" ", "\n", ", "]));
  const type = (depth = 0): FieldType => {
    const roll = next();
    if (roll < 0.4) return "str";
    if (roll < 0.5) return "int";
    if (roll < 0.57) return "float";
    if (roll < 0.65) return "bool";
    if (roll < 0.7) return "dict";
    if (roll < 0.85 && depth < 2) return { list: type(depth + 1) };
    const kind = pick(["str", "str", "int", "bool", "float"]);
    if (kind === "str") return { enum: [...new Set(Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(["yes", "no", "maybe", "it's", 'say "hi"', "both ' and \""])))] };
    if (kind === "int") return { enum: [...new Set(Array.from({ length: 1 + Math.floor(next() * 3) }, () => Math.floor(next() * 7) - 2))] };
    if (kind === "float") return { enum: [...new Set([0.5, pick([1.5, 2, -0.25])])] };
    return { enum: chance(0.5) ? [true] : [true, false] };
  };
  const value = (t: FieldType): unknown => {
    if (t === "str") return text();
    if (t === "int") return pick([0, 1, -3, 42, 10 ** 15, 123456789012]);
    if (t === "float") return pick([0.5, 1e-7, 1e21, 3.14159, -2.5, 100, 1e16, 0.1]);
    if (t === "bool") return chance(0.5);
    if (t === "dict") return chance(0.3) ? {} : { k: text(), n: pick([1, 2.5, null]), nested: { ok: chance(0.5), list: [1, "two"] } };
    if (typeof t === "object" && "list" in t) return Array.from({ length: Math.floor(next() * 4) }, () => value(t.list));
    return pick((t as { enum: (string | number | boolean)[] }).enum);
  };
  /** How a model might write `v` of type `t` in a chat section. */
  const spelled = (t: FieldType, v: unknown): string => {
    if (t === "str") return String(v);
    if (t === "bool") return pick(v ? ["True", "true", "yes", "1", "TRUE"] : ["False", "false", "no", "0"]);
    if (t === "int") return pick([String(v), `${String(v)}.0`, ` ${String(v)} `]);
    if (t === "float") return pick([String(v), JSON.stringify(v)]);
    if (typeof t === "object" && "enum" in t) return typeof v === "string" ? pick([v, `'${v}'`, `"${v}"`]) : pick([String(v), JSON.stringify(v)]);
    const json = JSON.stringify(v);
    return chance(0.2) ? `\`\`\`json\n${json}\n\`\`\`` : chance(0.1) ? json.slice(0, -1) : json;
  };
  const fields = (n: number, used: Set<string>): Field[] =>
    Array.from({ length: n }, () => {
      let name = pick(NAMES);
      while (used.has(name)) name = `${pick(NAMES)}_${used.size}`;
      used.add(name);
      const desc = pick([undefined, undefined, "", "A short description.", "Multi\nline «desc»", "Ünïcode"]);
      return { name, type: type(), ...(desc === undefined ? {} : { desc }) };
    });
  return Array.from({ length: count }, (_, i) => {
    const used = new Set<string>(["reasoning"]);
    const spec: Spec = {
      kind: chance(0.5) ? "Predict" : "ChainOfThought",
      ...(chance(0.6) ? { instructions: pick(["Answer.", "  Indented\n    more\n  back", "Line one.\n\nLine three.", "Tabs\tinside\n\tand leading", "Ünïcode «instructions»", ""]) } : {}),
      inputs: fields(1 + Math.floor(next() * 3), used),
      outputs: fields(1 + Math.floor(next() * 3), used),
    };
    const outputs = [...(spec.kind === "ChainOfThought" ? [{ name: "reasoning", type: "str" as FieldType }] : []), ...spec.outputs];
    const inputs = Object.fromEntries(spec.inputs.map((f) => [f.name, value(f.type)]));
    const demoCount = pick([0, 0, 3, 8]);
    const demos = Array.from({ length: demoCount }, () => {
      const demo: Record<string, unknown> = {};
      for (const f of [...spec.inputs, ...outputs]) {
        if (chance(0.85)) demo[f.name] = chance(0.05) ? null : chance(0.05) ? value({ list: "str" }) : value(f.type);
      }
      if (chance(0.3)) demo.augmented = true;
      return demo;
    });
    const values = outputs.map((f) => [f.name, spelled(f.type, value(f.type))] as [string, string]);
    const roll = next();
    const replies =
      roll < 0.75
        ? [chatReply(values, chance(0.8))]
        : roll < 0.9
          ? [chatReply(values.slice(1)), JSON.stringify(Object.fromEntries(outputs.map((f) => [f.name, value(f.type)])))]
          : [pick(["", "I cannot answer.", chatReply(values.slice(0, -1))]), pick(["nope", "{}", "[1, 2]"])];
    const state = demoCount > 0 || chance(0.2) ? stateOf(spec, demos, chance(0.3) ? pick(["Optimized: be brief.", "  Indented optimized\n  text"]) : undefined) : null;
    // A quarter on a model DSPy's metadata knows: its JSON fallback sends structured outputs or JSON mode.
    return caseOf(`random #${i} (seed ${seed})`, spec, inputs, replies, state, chance(0.25) ? "gpt-4o-mini" : undefined);
  });
}
