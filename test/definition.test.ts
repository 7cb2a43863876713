import assert from "node:assert/strict";
import {
  checkValue,
  DEFINITION_LIMITS,
  formatFieldType,
  parseCompactSignature,
  validateProgramDefinition,
  type Issue,
  type NormalizedProgram,
} from "../src/programs/definition/index.js";
import { qaDefinition } from "./support/fixtures.js";

type Json = any; // test fixtures are mutated freely

/** The example of DESIGN.md "Program definitions"; a fresh copy each call. */
const example = (): Json => qaDefinition();

function mutated(change: (d: Json) => void): Json {
  const d = example();
  change(d);
  return d;
}

function accept(definition: unknown): NormalizedProgram {
  const result = validateProgramDefinition(definition);
  if (!result.ok) assert.fail(`expected ok, got issues:\n${result.issues.map((i) => `${i.path}: ${i.reason}`).join("\n")}`);
  return result.program;
}

function reject(definition: unknown): Issue[] {
  const result = validateProgramDefinition(definition);
  assert.equal(result.ok, false, "expected the definition to be rejected");
  return result.ok ? [] : result.issues;
}

describe("validateProgramDefinition: valid definitions", () => {
  it("accepts the DESIGN.md example and normalizes it", () => {
    const program = accept(example());
    assert.deepEqual(program, {
      inputs: { context: { type: { list: "str" } }, question: { type: "str" } },
      outputs: { answer: { type: "str" } },
      modules: {
        generate: {
          type: "ChainOfThought",
          signature: {
            instructions: "Answer the question from the context.",
            inputs: { context: { type: { list: "str" }, desc: "passages" }, question: { type: "str" } },
            outputs: { answer: { type: "str", desc: "a short answer" } },
          },
          config: {},
        },
      },
      forward: [
        {
          call: "generate",
          with: { context: { ref: { step: "input", field: "context" } }, question: { ref: { step: "input", field: "question" } } },
          as: "gen",
        },
        { return: { answer: { ref: { step: "gen", field: "answer" } } } },
      ],
    });
  });

  it("accepts a compact signature string (untyped fields are str)", () => {
    const program = accept(mutated((d) => (d.modules.generate = { type: "Predict", signature: "context: list[str], question -> answer" })));
    assert.deepEqual(program.modules["generate"], {
      type: "Predict",
      signature: { inputs: { context: { type: { list: "str" } }, question: { type: "str" } }, outputs: { answer: { type: "str" } } },
      config: {},
    });
  });

  it("accepts DSPy/Python type spellings in compact signatures", () => {
    const program = accept({
      inputs: { items: "list[list[int]]", meta: "dict" },
      modules: { m: { type: "Predict", signature: "items: List[List[int]], meta: dict[str, Any] -> label: Literal['a', \"b, c\"], ok: bool, score: Literal[1, 2.5]" } },
      forward: [{ call: "m", with: { items: "$input.items", meta: "$input.meta" }, as: "r" }, { return: { label: "$r.label", score: "$r.score" } }],
    });
    assert.deepEqual(program.modules["m"]!.signature.outputs, {
      label: { type: { enum: ["a", "b, c"] } },
      ok: { type: "bool" },
      score: { type: { enum: [1, 2.5] } },
    });
    assert.deepEqual(program.outputs, { label: { type: { enum: ["a", "b, c"] } }, score: { type: { enum: [1, 2.5] } } });
  });

  it("chains two modules; the second consumes the ChainOfThought's reasoning", () => {
    const program = accept(
      mutated((d) => {
        d.modules.summarize = { type: "Predict", signature: { inputs: { rationale: "str", answer: "str" }, outputs: { summary: "str" } } };
        d.forward = [
          d.forward[0],
          { call: "summarize", with: { rationale: "$gen.reasoning", answer: "$gen.answer" }, as: "sum" },
          { return: { summary: "$sum.summary", reasoning: "$gen.reasoning" } },
        ];
      }),
    );
    assert.deepEqual(program.outputs, { summary: { type: "str" }, reasoning: { type: "str" } });
    assert.deepEqual(program.forward[1], {
      call: "summarize",
      with: { rationale: { ref: { step: "gen", field: "reasoning" } }, answer: { ref: { step: "gen", field: "answer" } } },
      as: "sum",
    });
  });

  it("accepts enums; enum types match regardless of value order", () => {
    const program = accept({
      inputs: { text: "str", tone: { type: "enum", values: ["formal", "casual"] } },
      modules: { classify: { type: "Predict", signature: "text, tone: Literal['casual', 'formal'] -> label: Literal['pos', 'neg'], stars: Literal[1, 2, 3]" } },
      forward: [{ call: "classify", with: { text: "$input.text", tone: "$input.tone" }, as: "c" }, { return: { label: "$c.label" } }],
    });
    assert.deepEqual(program.inputs["tone"], { type: { enum: ["formal", "casual"] } });
    assert.deepEqual(program.outputs, { label: { type: { enum: ["pos", "neg"] } } });
  });

  it("accepts literals, '$$' escapes, and infers return literal types", () => {
    const program = accept({
      description: "literals everywhere",
      inputs: {},
      modules: { m: { type: "Predict", signature: { inputs: { q: "str", k: "int", tags: "list[str]", opts: "dict", mode: { type: "enum", values: ["a", "b"] } }, outputs: { out: "str" } } } },
      forward: [
        { call: "m", with: { q: "$$5 off", k: 3, tags: ["x", "y"], opts: { a: [1] }, mode: "b" }, as: "r" },
        { return: { out: "$r.out", version: 2, ratio: 0.5, nums: [1, 2.5], flags: [[true]], meta: { a: 1 }, note: "plain", empty: [] } },
      ],
    });
    assert.deepEqual(program.forward[0], {
      call: "m",
      with: { q: { literal: "$5 off" }, k: { literal: 3 }, tags: { literal: ["x", "y"] }, opts: { literal: { a: [1] } }, mode: { literal: "b" } },
      as: "r",
    });
    assert.deepEqual(program.outputs, {
      out: { type: "str" },
      version: { type: "int" },
      ratio: { type: "float" },
      nums: { type: { list: "float" } },
      flags: { type: { list: { list: "bool" } } },
      meta: { type: "dict" },
      note: { type: "str" },
      empty: { type: { list: "str" } },
    });
    assert.deepEqual(program.inputs, {});
  });

  it("accepts the same module called twice, and a step named like a module", () => {
    const program = accept(
      mutated((d) => {
        d.forward = [
          { call: "generate", with: { context: "$input.context", question: "$input.question" }, as: "generate" },
          { call: "generate", with: { context: "$input.context", question: "$generate.answer" }, as: "again" },
          { return: { answer: "$again.answer" } },
        ];
      }),
    );
    assert.deepEqual(
      program.forward.map((s) => ("call" in s ? `${s.call}->${s.as}` : "return")),
      ["generate->generate", "generate->again", "return"],
    );
  });

  it("normalizes shorthand types and whitespace; unused program inputs are allowed", () => {
    const program = accept({
      inputs: { grid: " list[ list[ int ] ] ", unused: "float" },
      modules: { m: { type: "Predict", signature: { inputs: { grid: "list[list[int]]" }, outputs: { total: { type: "int" } } } } },
      forward: [{ call: "m", with: { grid: "$input.grid" }, as: "r" }, { return: { total: "$r.total" } }],
    });
    assert.deepEqual(program.inputs, { grid: { type: { list: { list: "int" } } }, unused: { type: "float" } });
  });

  it("accepts a definition just under the size limit", () => {
    const d = example();
    d.description = "";
    const base = Buffer.byteLength(JSON.stringify(d));
    d.description = "x".repeat(DEFINITION_LIMITS.maxBytes - base);
    assert.equal(Buffer.byteLength(JSON.stringify(d)), DEFINITION_LIMITS.maxBytes);
    accept(d);
  });
});

interface Case {
  name: string;
  def: unknown;
  path: string;
  reason: string;
}

const tooDeep: Json = [];
let innermost: Json = tooDeep;
for (let i = 0; i < 40; i++) innermost = innermost[0] = [];

const cases: Case[] = [
  // root
  { name: "null", def: null, path: "definition", reason: "must be a JSON object, got null" },
  { name: "array root", def: [example()], path: "definition", reason: "must be a JSON object, got array" },
  { name: "number root", def: 42, path: "definition", reason: "got number 42" },
  { name: "string root", def: "question -> answer", path: "definition", reason: "got string 'question -> answer'" },
  { name: "unknown root key", def: mutated((d) => (d.version = 2)), path: "definition.version", reason: "unknown key 'version'" },
  { name: "__proto__ root key", def: { ...JSON.parse('{"__proto__": {"polluted": true}}'), ...example() }, path: "definition.__proto__", reason: "unknown key '__proto__'" },
  { name: "missing modules", def: mutated((d) => delete d.modules), path: "definition", reason: "missing required key 'modules'" },
  { name: "description not a string", def: mutated((d) => (d.description = 5)), path: "definition.description", reason: "must be a string" },
  { name: "oversized", def: mutated((d) => (d.description = "é".repeat(40000))), path: "definition", reason: "bytes; the limit is 65536" },
  { name: "too deep", def: mutated((d) => (d.forward[0].with.context = tooDeep)), path: "definition.forward[0].with.context" + "[0]".repeat(29), reason: "nests deeper than 32 levels" },
  // names
  { name: "invalid input name", def: mutated((d) => (d.inputs["my-field"] = "str")), path: 'definition.inputs["my-field"]', reason: "'my-field' is invalid" },
  { name: "input name too long", def: mutated((d) => (d.inputs["a".repeat(65)] = "str")), path: `definition.inputs.${"a".repeat(65)}`, reason: "is 65 characters; the limit is 64" },
  { name: "Python keyword module name", def: mutated((d) => (d.modules.class = d.modules.generate)), path: "definition.modules.class", reason: "'class' is a Python keyword" },
  { name: "module name shadows dspy.Module", def: mutated((d) => (d.modules.forward = d.modules.generate)), path: "definition.modules.forward", reason: "would shadow dspy.Module.forward" },
  { name: "step named input", def: mutated((d) => (d.forward[0].as = "input")), path: "definition.forward[0].as", reason: "reserved for $input" },
  { name: "step name shadows dspy.Module", def: mutated((d) => (d.forward[0].as = "named_predictors")), path: "definition.forward[0].as", reason: "would shadow dspy.Module.named_predictors" },
  { name: "module name shadows dspy.Module.acall", def: mutated((d) => (d.modules.acall = d.modules.generate)), path: "definition.modules.acall", reason: "would shadow dspy.Module.acall" },
  { name: "step name shadows dspy.Module.acall", def: mutated((d) => (d.forward[0].as = "acall")), path: "definition.forward[0].as", reason: "would shadow dspy.Module.acall" },
  // names DSPy itself cannot take (bridge-py/dspy_bridge/definition/dspy_names.py has the same rules)
  { name: "DSPy option as an input field", def: mutated((d) => (d.modules.generate.signature.inputs.config = "str")), path: "definition.modules.generate.signature.inputs.config", reason: "input field name 'config' is reserved by DSPy (dspy.Predict takes it as an option)" },
  { name: "dspy.Signature attribute as an output field", def: mutated((d) => (d.modules.generate.signature.outputs.instructions = "str")), path: "definition.modules.generate.signature.outputs.instructions", reason: "field name 'instructions' is reserved by DSPy (it clashes with dspy.Signature)" },
  { name: "pydantic member as an output field", def: mutated((d) => (d.modules.generate.signature.outputs.model_dump = "str")), path: "definition.modules.generate.signature.outputs.model_dump", reason: "field name 'model_dump' is reserved by DSPy" },
  { name: "call parameter as a module input", def: mutated((d) => (d.modules.generate.signature.inputs.instance = "str")), path: "definition.modules.generate.signature.inputs.instance", reason: "input field name 'instance' is reserved by DSPy (a parameter of dspy.Module.__call__)" },
  { name: "reserved name in a compact signature", def: mutated((d) => (d.modules.generate.signature = "context: list[str], question, lm -> answer")), path: "definition.modules.generate.signature", reason: "input field name 'lm' is reserved by DSPy" },
  { name: "call parameter as a program input", def: mutated((d) => (d.inputs.self = "str")), path: "definition.inputs.self", reason: "program input name 'self' is reserved by DSPy (a parameter of dspy.Module.__call__); rename the input" },
  { name: "step name is a keyword", def: mutated((d) => (d.forward[0].as = "lambda")), path: "definition.forward[0].as", reason: "Python keyword" },
  { name: "duplicate step name", def: mutated((d) => d.forward.splice(1, 0, structuredClone(d.forward[0]))), path: "definition.forward[1].as", reason: "'gen' is already used by forward[0]" },
  { name: "return output name is a keyword", def: mutated((d) => (d.forward[1].return = { return: "$gen.answer" })), path: "definition.forward[1].return.return", reason: "Python keyword" },
  // modules
  { name: "modules empty", def: mutated((d) => (d.modules = {})), path: "definition.modules", reason: "at least one module" },
  { name: "unknown module type", def: mutated((d) => (d.modules.generate.type = "Telepathy")), path: "definition.modules.generate.type", reason: "unknown module type 'Telepathy' (expected Predict, ChainOfThought, MultiChainComparison" },
  { name: "unknown module key", def: mutated((d) => (d.modules.generate.lm = "gpt")), path: "definition.modules.generate.lm", reason: "unknown key 'lm' in a ChainOfThought module (expected type, signature, config)" },
  { name: "too many modules", def: mutated((d) => { for (let i = 0; i < 32; i++) d.modules[`m${i}`] = d.modules.generate; }), path: "definition.modules", reason: "33 modules; the limit is 32" },
  { name: "unknown signature key", def: mutated((d) => (d.modules.generate.signature.demos = [])), path: "definition.modules.generate.signature.demos", reason: "unknown key 'demos' in signature" },
  { name: "signature without outputs", def: mutated((d) => (d.modules.generate.signature.outputs = {})), path: "definition.modules.generate.signature.outputs", reason: "at least one output field" },
  { name: "instructions too long", def: mutated((d) => (d.modules.generate.signature.instructions = "x".repeat(8193))), path: "definition.modules.generate.signature.instructions", reason: "8193 characters; the limit is 8192" },
  { name: "reasoning output on ChainOfThought", def: mutated((d) => (d.modules.generate.signature.outputs.reasoning = "str")), path: "definition.modules.generate.signature.outputs.reasoning", reason: "'reasoning' is reserved" },
  { name: "reasoning in compact ChainOfThought", def: mutated((d) => (d.modules.generate.signature = "context: list[str], question -> reasoning, answer")), path: "definition.modules.generate.signature", reason: "'reasoning' is reserved" },
  {
    name: "too many signature fields",
    def: mutated((d) => { for (let i = 0; i < 31; i++) d.modules.generate.signature.outputs[`o${i}`] = "str"; }),
    path: "definition.modules.generate.signature",
    reason: "signature declares 34 fields; the limit is 32",
  },
  { name: "field both input and output", def: mutated((d) => (d.modules.generate.signature.outputs.question = "str")), path: "definition.modules.generate.signature.outputs.question", reason: "declared as both an input and an output" },
  // compact signatures
  { name: "compact without arrow", def: mutated((d) => (d.modules.generate.signature = "context, question")), path: "definition.modules.generate.signature", reason: "has no '->'" },
  { name: "compact with two arrows", def: mutated((d) => (d.modules.generate.signature = "context -> question -> answer")), path: "definition.modules.generate.signature", reason: "has 2 '->'; expected exactly one" },
  { name: "compact empty input side", def: mutated((d) => (d.modules.generate.signature = " -> answer")), path: "definition.modules.generate.signature", reason: "has no input fields before '->'" },
  { name: "compact empty field", def: mutated((d) => (d.modules.generate.signature = "context, , question -> answer")), path: "definition.modules.generate.signature", reason: "empty input field in 'context, , question'" },
  { name: "compact bad type", def: mutated((d) => (d.modules.generate.signature = "context: list[str], question: string -> answer")), path: "definition.modules.generate.signature", reason: "field 'question: string': unknown field type 'string'" },
  { name: "compact bad name", def: mutated((d) => (d.modules.generate.signature = "context, 2nd -> answer")), path: "definition.modules.generate.signature", reason: "input field name '2nd' is invalid" },
  { name: "compact duplicate field", def: mutated((d) => (d.modules.generate.signature = "context, question, context -> answer")), path: "definition.modules.generate.signature", reason: "duplicate input field 'context'" },
  { name: "compact mixed Literal", def: mutated((d) => (d.modules.generate.signature = 'context: list[str], question -> answer: Literal["a", 1]')), path: "definition.modules.generate.signature", reason: "all values must be of one kind" },
  // field types
  { name: "unknown type (shorthand)", def: mutated((d) => (d.inputs.question = "string")), path: "definition.inputs.question", reason: "unknown field type 'string' (expected str, int, float, bool, dict, list[T] or enum)" },
  { name: "unknown list element type", def: mutated((d) => (d.inputs.context.type = "list[foo]")), path: "definition.inputs.context.type", reason: "unknown field type 'list[foo]'" },
  { name: "bare list", def: mutated((d) => (d.inputs.context.type = "list")), path: "definition.inputs.context.type", reason: "unknown field type 'list'" },
  { name: "Python spelling outside compact form", def: mutated((d) => (d.inputs.context.type = "List[str]")), path: "definition.inputs.context.type", reason: "unknown field type 'List[str]'" },
  { name: "lists nested too deep", def: mutated((d) => (d.inputs.context.type = "list[list[list[list[list[str]]]]]")), path: "definition.inputs.context.type", reason: "nests lists deeper than 4" },
  { name: "unknown field key", def: mutated((d) => (d.inputs.question.default = "?")), path: "definition.inputs.question.default", reason: "unknown key 'default' in field" },
  { name: "desc not a string", def: mutated((d) => (d.modules.generate.signature.outputs.answer.desc = 1)), path: "definition.modules.generate.signature.outputs.answer.desc", reason: "desc must be a string" },
  { name: "enum without values", def: mutated((d) => (d.inputs.question = { type: "enum", values: [] })), path: "definition.inputs.question.values", reason: "at least one value" },
  { name: "enum mixed kinds", def: mutated((d) => (d.inputs.question = { type: "enum", values: ["a", 1] })), path: "definition.inputs.question.values[1]", reason: "all values must be of one kind" },
  { name: "enum duplicate", def: mutated((d) => (d.inputs.question = { type: "enum", values: ["a", "b", "a"] })), path: "definition.inputs.question.values[2]", reason: "duplicate enum value 'a'" },
  { name: "enum too many values", def: mutated((d) => (d.inputs.question = { type: "enum", values: Array.from({ length: 101 }, (_, i) => i) })), path: "definition.inputs.question.values", reason: "101 values; the limit is 100" },
  { name: "values on a non-enum", def: mutated((d) => (d.inputs.question.values = ["a"])), path: "definition.inputs.question.values", reason: "only allowed with type 'enum'" },
  // forward structure
  { name: "empty forward", def: mutated((d) => (d.forward = [])), path: "definition.forward", reason: "forward is empty" },
  {
    name: "too many steps",
    def: mutated((d) => d.forward.splice(1, 0, ...Array.from({ length: 64 }, (_, i) => ({ ...d.forward[0], as: `g${i}` })))),
    path: "definition.forward",
    reason: "forward has 66 steps; the limit is 64",
  },
  { name: "forward not an array", def: mutated((d) => (d.forward = {})), path: "definition.forward", reason: "must be an array" },
  { name: "return missing", def: mutated((d) => d.forward.pop()), path: "definition.forward", reason: "return missing" },
  { name: "return not last", def: mutated((d) => d.forward.reverse()), path: "definition.forward[0]", reason: "return must be the last step" },
  { name: "two returns", def: mutated((d) => d.forward.push({ return: { answer: "$gen.answer" } })), path: "definition.forward[1]", reason: "more than one return step" },
  { name: "call and return in one step", def: mutated((d) => (d.forward[0].return = {})), path: "definition.forward[0]", reason: "not both" },
  { name: "neither call nor return", def: mutated((d) => d.forward.unshift({ as: "x" })), path: "definition.forward[0]", reason: "must have 'call'" },
  { name: "missing as", def: mutated((d) => delete d.forward[0].as), path: "definition.forward[0]", reason: "missing required key 'as'" },
  { name: "unknown call step key", def: mutated((d) => (d.forward[0].retries = 2)), path: "definition.forward[0].retries", reason: "unknown key 'retries' in call step" },
  { name: "unknown return step key", def: mutated((d) => (d.forward[1].as = "out")), path: "definition.forward[1].as", reason: "a return step has only 'return'" },
  { name: "empty return", def: mutated((d) => (d.forward[1].return = {})), path: "definition.forward[1].return", reason: "at least one output" },
  { name: "call of an undeclared module", def: mutated((d) => (d.forward[0].call = "answerer")), path: "definition.forward[0].call", reason: "no module named 'answerer' (modules: generate)" },
  // references
  { name: "reference to no step", def: mutated((d) => (d.forward[1].return.answer = "$nope.answer")), path: "definition.forward[1].return.answer", reason: "no step named 'nope'" },
  {
    name: "reference to a later step",
    def: mutated((d) => {
      d.modules.again = structuredClone(d.modules.generate);
      d.forward.splice(0, 0, { call: "again", with: { context: "$input.context", question: "$gen.answer" }, as: "first" });
    }),
    path: "definition.forward[0].with.question",
    reason: "refers to step 'gen' which is defined later (forward[1])",
  },
  { name: "reference to its own step", def: mutated((d) => (d.forward[0].with.question = "$gen.answer")), path: "definition.forward[0].with.question", reason: "this step's own result" },
  { name: "undeclared $input field", def: mutated((d) => (d.forward[0].with.question = "$input.query")), path: "definition.forward[0].with.question", reason: "undeclared program input 'query' (inputs: context, question)" },
  { name: "output the module does not have", def: mutated((d) => (d.forward[1].return.answer = "$gen.summary")), path: "definition.forward[1].return.answer", reason: "module 'generate' (step 'gen') has no output 'summary' (outputs: reasoning, answer)" },
  {
    name: "reasoning of a Predict module",
    def: mutated((d) => {
      d.modules.generate.type = "Predict";
      d.forward[1].return.why = "$gen.reasoning";
    }),
    path: "definition.forward[1].return.why",
    reason: "has no output 'reasoning' (outputs: answer; only ChainOfThought adds 'reasoning')",
  },
  { name: "malformed reference without field", def: mutated((d) => (d.forward[1].return.answer = "$gen")), path: "definition.forward[1].return.answer", reason: "malformed reference '$gen'" },
  { name: "malformed reference with two dots", def: mutated((d) => (d.forward[1].return.answer = "$gen.a.b")), path: "definition.forward[1].return.answer", reason: "malformed reference '$gen.a.b'" },
  { name: "malformed reference without step", def: mutated((d) => (d.forward[0].with.question = "$.x")), path: "definition.forward[0].with.question", reason: "malformed reference '$.x'" },
  // bindings against the signature
  { name: "unbound required input", def: mutated((d) => delete d.forward[0].with.question), path: "definition.forward[0].with", reason: "required input 'question' of module 'generate' is not bound" },
  { name: "unknown with key", def: mutated((d) => (d.forward[0].with.topic = "x")), path: "definition.forward[0].with.topic", reason: "module 'generate' has no input 'topic' (inputs: context, question)" },
  { name: "reference type mismatch", def: mutated((d) => (d.forward[0].with.context = "$input.question")), path: "definition.forward[0].with.context", reason: "'$input.question' is str but generate.context expects list[str]" },
  { name: "bad literal", def: mutated((d) => (d.forward[0].with.question = 5)), path: "definition.forward[0].with.question", reason: "literal for generate.question: expected str, got number 5" },
  { name: "bad list literal element", def: mutated((d) => (d.forward[0].with.context = ["a", 1])), path: "definition.forward[0].with.context[1]", reason: "expected str, got number 1" },
  { name: "null return literal", def: mutated((d) => (d.forward[1].return.extra = null)), path: "definition.forward[1].return.extra", reason: "cannot infer a field type from null" },
  { name: "mixed return list literal", def: mutated((d) => (d.forward[1].return.extra = ["a", 1])), path: "definition.forward[1].return.extra", reason: "mixes str and int" },
];

describe("validateProgramDefinition: invalid definitions", () => {
  it("has a broad table of cases", () => assert.ok(cases.length >= 30));

  for (const c of cases) {
    it(`rejects: ${c.name}`, () => {
      const issues = reject(c.def);
      const hit = issues.find((i) => i.path === c.path && i.reason.includes(c.reason));
      if (!hit) {
        assert.fail(`no issue at ${c.path} containing "${c.reason}"; got:\n${issues.map((i) => `${i.path}: ${i.reason}`).join("\n")}`);
      }
      assert.ok(issues.every((i) => i.path.startsWith("definition")));
    });
  }

  it("does not pollute prototypes", () => {
    const def = JSON.parse('{"__proto__": {"polluted": 1}, "inputs": {"__proto__": "str", "constructor": "str"}, "modules": {"toString": {"type": "Predict", "signature": "a -> b"}}, "forward": [{"call": "hasOwnProperty", "with": {}, "as": "constructor"}, {"return": {"b": "$constructor.b"}}]}');
    const issues = reject(def);
    assert.equal(({} as Json).polluted, undefined);
    assert.deepEqual(
      issues.map((i) => i.path),
      ["definition.__proto__", "definition.inputs.__proto__", "definition.forward[0].call"],
    );
  });

  it("reports all issues in document order", () => {
    const def = mutated((d) => {
      d.extra = 1;
      d.inputs.question = "string";
      d.modules.generate.type = "Telepathy";
      d.forward[1].return.answer = "$gen.answer.x";
    });
    assert.deepEqual(
      reject(def).map((i) => i.path),
      ["definition.inputs.question", "definition.modules.generate.type", "definition.forward[1].return.answer", "definition.extra"],
    );
  });

  it("uses the given root path and quotes non-identifier keys", () => {
    const result = validateProgramDefinition(mutated((d) => (d.inputs["a b"] = "str")), "input.definition");
    assert.deepEqual(result.ok ? [] : result.issues, [
      { path: 'input.definition.inputs["a b"]', reason: "program input name 'a b' is invalid: use a letter followed by letters, digits or _" },
    ]);
  });

  it("stops at the size limit with a single issue", () => {
    const issues = reject(mutated((d) => ((d.description = "x".repeat(70000)), (d.bogus = 1))));
    assert.equal(issues.length, 1);
    assert.match(issues[0]!.reason, /^definition is \d+ bytes; the limit is 65536$/);
  });

  it("survives cyclic input", () => {
    const cyclic: Json = example();
    cyclic.forward[0].with.question = cyclic;
    assert.match(reject(cyclic)[0]!.reason, /nests deeper than 32/);
  });
});

describe("parseCompactSignature", () => {
  it("keeps commas inside brackets and quotes", () => {
    assert.deepEqual(parseCompactSignature("a: dict[str, Any], b: Literal['x,y', 'z'] -> c: list[ int ]"), {
      ok: true,
      inputs: [{ name: "a", type: "dict" }, { name: "b", type: { enum: ["x,y", "z"] } }],
      outputs: [{ name: "c", type: { list: "int" } }],
    });
  });

  it("parses booleans and escaped quotes in Literal", () => {
    const parsed = parseCompactSignature("q -> a: Literal[True, False], b: Literal['it\\'s']");
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.outputs, [{ name: "a", type: { enum: [true, false] } }, { name: "b", type: { enum: ["it's"] } }]);
  });

  it("reports every problem", () => {
    const parsed = parseCompactSignature("a, a, : int -> x: Literal[]");
    assert.equal(parsed.ok, false);
    assert.deepEqual(parsed.ok ? [] : parsed.reasons, [
      "duplicate input field 'a'",
      "field ': int': input field name is empty",
      "field 'x: Literal[]': Literal: enum needs at least one value",
    ]);
  });
});

describe("checkValue", () => {
  it("accepts matching values", () => {
    assert.deepEqual(checkValue("s", "str", "inputs.q"), []);
    assert.deepEqual(checkValue(3, "int", "v"), []);
    assert.deepEqual(checkValue(3, "float", "v"), []);
    assert.deepEqual(checkValue(2.5, "float", "v"), []);
    assert.deepEqual(checkValue(false, "bool", "v"), []);
    assert.deepEqual(checkValue({ a: [1] }, "dict", "v"), []);
    assert.deepEqual(checkValue([[1], []], { list: { list: "int" } }, "v"), []);
    assert.deepEqual(checkValue("b", { enum: ["a", "b"] }, "v"), []);
  });

  it("rejects mismatches with precise paths", () => {
    assert.deepEqual(checkValue("5", "int", "inputs.k"), [{ path: "inputs.k", reason: "expected int, got string '5'" }]);
    assert.deepEqual(checkValue(1.5, "int", "v"), [{ path: "v", reason: "expected int, got number 1.5" }]);
    assert.deepEqual(checkValue(Infinity, "float", "v"), [{ path: "v", reason: "expected float, got number Infinity" }]);
    assert.deepEqual(checkValue(0, "bool", "v"), [{ path: "v", reason: "expected bool, got number 0" }]);
    assert.deepEqual(checkValue([], "dict", "v"), [{ path: "v", reason: "expected dict, got array" }]);
    assert.deepEqual(checkValue(null, "dict", "v"), [{ path: "v", reason: "expected dict, got null" }]);
    assert.deepEqual(checkValue("x", { list: "str" }, "v"), [{ path: "v", reason: "expected list[str], got string 'x'" }]);
    assert.deepEqual(checkValue([["a"], ["b", 2], 3], { list: { list: "str" } }, "inputs.grid"), [
      { path: "inputs.grid[1][1]", reason: "expected str, got number 2" },
      { path: "inputs.grid[2]", reason: "expected list[str], got number 3" },
    ]);
    assert.deepEqual(checkValue("c", { enum: ["a", "b"] }, "v"), [{ path: "v", reason: "expected one of 'a', 'b', got 'c'" }]);
    assert.deepEqual(checkValue("1", { enum: [1, 2] }, "v"), [{ path: "v", reason: "expected one of 1, 2, got '1'" }]);
  });

  it("formats field types", () => {
    assert.equal(formatFieldType({ list: { list: "int" } }), "list[list[int]]");
    assert.equal(formatFieldType({ enum: ["a", "b"] }), "enum[a, b]");
    assert.equal(formatFieldType({ enum: [1, true] }), "enum[1, true]");
  });
});

describe("validateProgramDefinition: fuzz", () => {
  // mulberry32: small, deterministic
  function prng(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const random = prng(20240611);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const atoms: unknown[] = [
    null, 0, -1, 1.5, NaN, true, false, "", "str", "list[str]", "enum", "$input.question", "$gen.answer", "$gen", "$$x",
    "a -> b", "->", "__proto__", "constructor", "reasoning", "Predict", "ChainOfThought", "Literal['a'", "list[list[", undefined,
  ];
  const keys = ["inputs", "modules", "forward", "return", "call", "with", "as", "type", "signature", "values", "__proto__", "constructor", "x"];

  function junk(depth: number): unknown {
    const roll = random();
    if (depth > 4 || roll < 0.5) return pick(atoms);
    if (roll < 0.75) return Array.from({ length: Math.floor(random() * 4) }, () => junk(depth + 1));
    const obj: Json = {};
    for (let i = Math.floor(random() * 4); i > 0; i--) Object.defineProperty(obj, pick(keys), { value: junk(depth + 1), enumerable: true, configurable: true, writable: true });
    return obj;
  }

  /** Replaces, deletes or adds a key at a random place in the example. */
  function mutate(def: Json): Json {
    let node = def;
    for (let depth = 0; depth < 6; depth++) {
      const children = Object.keys(node).filter((k) => typeof node[k] === "object" && node[k] !== null);
      if (children.length === 0 || random() < 0.3) break;
      node = node[pick(children)];
    }
    const own = Object.keys(node);
    const roll = random();
    const target = own.length > 0 && roll < 0.7 ? pick(own) : pick(keys);
    if (roll < 0.2 && !Array.isArray(node)) delete node[target];
    else Object.defineProperty(node, target, { value: junk(0), enumerable: true, configurable: true, writable: true });
    return def;
  }

  it("never throws on 2000 random and mutated definitions", () => {
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      const input = i % 2 === 0 ? junk(0) : mutate(mutate(example()));
      const result = validateProgramDefinition(input);
      if (result.ok) {
        accepted++;
        continue;
      }
      assert.ok(result.issues.length > 0);
      for (const issue of result.issues) {
        assert.ok(issue.path.startsWith("definition"), issue.path);
        assert.ok(!issue.reason.includes("internal error"), `${issue.path}: ${issue.reason}`);
      }
    }
    assert.equal(({} as Json).polluted, undefined);
    assert.ok(accepted < 2000);
  });
});

describe("names DSPy takes", () => {
  it("accepts names DSPy takes: other model_* names, Predict's options as outputs, option names as module names", () => {
    const def = mutated((d) => {
      d.modules.generate.signature.inputs.model_name = "str";
      d.modules.generate.signature.outputs.config = "str";
      d.forward[0].with.model_name = "x";
      d.modules.lm = d.modules.generate;
      d.forward[0].call = "lm";
    });
    const result = validateProgramDefinition(def);
    assert.ok(result.ok, JSON.stringify(result));
  });
});

describe("field names that are Python soft keywords", () => {
  it("accepts `type`, `match` and `case` as field names", () => {
    const result = validateProgramDefinition({
      inputs: { type: { type: "str" } },
      modules: { classify: { type: "Predict", signature: { inputs: { type: { type: "str" } }, outputs: { match: { type: "bool" }, case: { type: "str" } } } } },
      forward: [{ call: "classify", with: { type: "$input.type" }, as: "c" }, { return: { match: "$c.match", case: "$c.case" } }],
    });
    assert.equal(result.ok, true, JSON.stringify(result));
  });
});
