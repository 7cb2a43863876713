import assert from "node:assert/strict";
import { validateProgramDefinition, type NormalizedProgram } from "../src/programs/definition/index.js";
import { moduleViews, predictorPaths } from "../src/programs/programModules.js";

type Json = any; // fixtures are built and mutated freely

const ask = (module: string, out = "answer"): Json[] => [{ call: module, with: { question: "$input.question" }, as: "r" }, { return: { [out]: `$r.${out}` } }];
const one = (module: Json, forward: Json[] = ask("m"), inputs: Json = { question: "str" }): Json => ({ inputs, modules: { m: module }, forward });
const http = (extra: Json = {}): Json => ({ name: "t", description: "A tool.", args: { city: "str" }, http: { method: "GET", url: "https://api.example.com/w?q={city}", ...extra } });

function accept(definition: unknown): NormalizedProgram {
  const result = validateProgramDefinition(definition);
  if (!result.ok) assert.fail(result.issues.map((i) => `${i.path}: ${i.reason}`).join("\n"));
  return result.program;
}

describe("the definition language: module types and control flow", () => {
  it("fills every option's default from the catalog, and names predictors as DSPy does", () => {
    const program = accept({
      inputs: { question: "str" },
      modules: {
        mcc: { type: "MultiChainComparison", signature: "question -> answer", config: { M: 2 } },
        best: { type: "BestOfN", signature: "question -> answer", config: { module: "ChainOfThought" }, reward: { kind: "exact_match", output: "answer", value: "x" } },
        agent: { type: "ReAct", signature: "question -> answer", tools: [http()] },
      },
      forward: [
        { call: "mcc", with: { question: "$input.question" }, as: "a" },
        { call: "best", with: { question: "$a.rationale" }, as: "b" },
        { call: "agent", with: { question: "$b.reasoning" }, as: "c" },
        { return: { answer: "$c.answer", trajectory: "$c.trajectory" } },
      ],
    });
    assert.deepEqual(program.modules["mcc"]!.config, { M: 2, temperature: 0.7 });
    assert.deepEqual(program.modules["best"]!.config, { N: 3, threshold: 1, module: "ChainOfThought" });
    assert.deepEqual(program.modules["agent"]!.config, { max_iters: 5 });
    assert.deepEqual(program.outputs, { answer: { type: "str" }, trajectory: { type: "dict" } });
    assert.deepEqual(
      Object.entries(program.modules).map(([name, m]) => predictorPaths(name, m)),
      [["mcc.attempt.predict", "mcc.compare.predict"], ["best.module.predict"], ["agent.react", "agent.extract.predict"]],
    );
    const views = moduleViews(program, { "best.module.predict": { demos: [{}, {}], signature: { instructions: "Optimized." } } });
    assert.deepEqual([views[1]!.demos, views[1]!.instructions, views[0]!.demos], [2, "Optimized.", 0]);
    assert.deepEqual(views[2]!.tools[0], { name: "t", description: "A tool.", kind: "http", programId: null, versionId: null, args: [{ name: "city", type: "str", description: null, values: null }] });
  });

  it("normalizes map, loop and if into the forms the worker runs", () => {
    const program = accept({
      inputs: { question: "str", items: "list[str]", flag: "bool" },
      modules: {
        q: { type: "Predict", signature: "question, notes: list[str] -> query, done: bool" },
        k: { type: "Predict", signature: { inputs: { question: "str" }, outputs: { kind: { type: "enum", values: ["a", "b"] } } } },
      },
      forward: [
        { loop: { max: 3, until: { field: "$s.done", equals: true } }, as: "hops", vars: { notes: { type: "list[str]", value: [] } }, steps: [{ call: "q", with: { question: "$input.question", notes: "$hops.notes" }, as: "s" }], append: { notes: "$s.query" } },
        { map: "$input.items", as: "each", parallel: 2, steps: [{ call: "k", with: { question: "$each.item" }, as: "c" }, { return: { kind: "$c.kind", i: "$each.index" } }] },
        { if: { field: "$input.flag", equals: false }, as: "pick", then: [{ return: { notes: "$hops.notes" } }], else: [{ return: { notes: ["none"] } }] },
        { return: { notes: "$hops.notes", kinds: "$each.kind", idx: "$each.i" } },
      ],
    });
    assert.deepEqual(program.forward[0], {
      loop: { max: 3, until: { ref: { step: "s", field: "done" }, equals: true } },
      as: "hops",
      vars: { notes: { type: { list: "str" }, value: { literal: [] } } },
      steps: [{ call: "q", with: { question: { ref: { step: "input", field: "question" } }, notes: { ref: { step: "hops", field: "notes" } } }, as: "s" }],
      set: {},
      append: { notes: { ref: { step: "s", field: "query" } } },
      extend: {},
    });
    assert.deepEqual(program.forward[2], {
      if: { ref: { step: "input", field: "flag" }, equals: false },
      as: "pick",
      then: [{ return: { notes: { ref: { step: "hops", field: "notes" } } } }],
      else: [{ return: { notes: { literal: ["none"] } } }],
    });
    assert.deepEqual(program.outputs, { notes: { type: { list: "str" } }, kinds: { type: { list: { enum: ["a", "b"] } } }, idx: { type: { list: "int" } } });
  });
});

/** [title, definition, path, text the reason must contain] */
const INVALID: [string, Json, string, string][] = [
  ["MCC option out of range", one({ type: "MultiChainComparison", signature: "question -> answer", config: { M: 0 } }), "definition.modules.m.config.M", "must be an integer from 1 to 10"],
  ["option a type does not take", one({ type: "Predict", signature: "question -> answer", config: { N: 3 } }), "definition.modules.m.config.N", "Predict takes no option 'N' (it takes none)"],
  ["config not an object", one({ type: "Predict", signature: "question -> answer", config: [1] }), "definition.modules.m.config", "config must be an object"],
  ["rationale declared on MCC", one({ type: "MultiChainComparison", signature: "question -> rationale, answer" }), "definition.modules.m.signature", "'rationale' is reserved: MultiChainComparison adds"],
  ["reasoning declared on a BestOfN", one({ type: "BestOfN", signature: "question -> reasoning", reward: { kind: "exact_match", output: "reasoning", value: "x" } }, ask("m", "reasoning")), "definition.modules.m.signature", "BestOfN may wrap a module that adds its own 'reasoning'"],
  ["BestOfN without reward", one({ type: "BestOfN", signature: "question -> answer" }), "definition.modules.m", "missing required key 'reward'"],
  ["reward on a Predict", one({ type: "Predict", signature: "question -> answer", reward: {} }), "definition.modules.m.reward", "unknown key 'reward' in a Predict module"],
  ["unknown reward kind", one({ type: "Refine", signature: "question -> answer", reward: { kind: "vibes", output: "answer", value: 1 } }), "definition.modules.m.reward.kind", "reward kind must be one of exact_match"],
  ["reward output the module lacks", one({ type: "Refine", signature: "question -> answer", reward: { kind: "exact_match", output: "nope", value: 1 } }), "definition.modules.m.reward.output", "the module has no output 'nope' (outputs: answer)"],
  ["reward input the module lacks", one({ type: "Refine", signature: "question -> answer", reward: { kind: "contains", output: "answer", input: "gold" } }), "definition.modules.m.reward.input", "the module has no input 'gold' (inputs: question)"],
  ["reward with input and value", one({ type: "Refine", signature: "question -> answer", reward: { kind: "contains", output: "answer", input: "question", value: "x" } }), "definition.modules.m.reward", "exactly one of input"],
  ["tolerance on a non-numeric reward", one({ type: "BestOfN", signature: "question -> answer", reward: { kind: "contains", output: "answer", value: "x", tolerance: 1 } }), "definition.modules.m.reward.tolerance", "only a numeric reward"],
  ["lm_judge without judge", one({ type: "Refine", signature: "question -> answer", reward: { kind: "lm_judge", output: "answer" } }), "definition.modules.m.reward", "needs judge"],
  ["judge input from a label", one({ type: "Refine", signature: "question -> answer", reward: { kind: "lm_judge", output: "answer", judge: { program: "p", score: "ok", inputs: { a: "label.gold" } } } }), "definition.modules.m.reward.judge.inputs.a", "must be input.<field> or output.<field>"],
  ["judge input naming a missing output", one({ type: "Refine", signature: "question -> answer", reward: { kind: "lm_judge", output: "answer", judge: { program: "p", score: "ok", inputs: { a: "output.nope" } } } }), "definition.modules.m.reward.judge.inputs.a", "the module has no output 'nope'"],
  ["ReAct without tools", one({ type: "ReAct", signature: "question -> answer" }), "definition.modules.m", "missing required key 'tools'"],
  ["ReAct with no tool", one({ type: "ReAct", signature: "question -> answer", tools: [] }), "definition.modules.m.tools", "at least one tool"],
  ["two tools of one name", one({ type: "ReAct", signature: "question -> answer", tools: [http(), http()] }), "definition.modules.m.tools[1].name", "already used by tools[0]"],
  ["a tool named finish", one({ type: "ReAct", signature: "question -> answer", tools: [{ ...http(), name: "finish" }] }), "definition.modules.m.tools[0].name", "'finish' is reserved"],
  ["a tool both program and http", one({ type: "ReAct", signature: "question -> answer", tools: [{ ...http(), program: "p" }] }), "definition.modules.m.tools[0]", "exactly one of program"],
  ["an HTTP tool without description", one({ type: "ReAct", signature: "question -> answer", tools: [{ ...http(), description: undefined }] }), "definition.modules.m.tools[0]", "needs a description"],
  ["an HTTP method", one({ type: "ReAct", signature: "question -> answer", tools: [http({ method: "TRACE" })] }), "definition.modules.m.tools[0].http.method", "must be one of GET"],
  ["a placeholder in the host", one({ type: "ReAct", signature: "question -> answer", tools: [http({ url: "https://{city}.example.com/" })] }), "definition.modules.m.tools[0].http.url", "fixed host"],
  ["a secret in the URL", one({ type: "ReAct", signature: "question -> answer", tools: [http({ url: "https://api.example.com/?k=${API_KEY}" })] }), "definition.modules.m.tools[0].http.url", "never in the URL"],
  ["a placeholder that is no argument", one({ type: "ReAct", signature: "question -> answer", tools: [http({ body: { q: "{town}" } })] }), "definition.modules.m.tools[0].http.body", "{town} is not an argument"],
  ["a header line break", one({ type: "ReAct", signature: "question -> answer", tools: [http({ headers: { "X-A": "a\r\nX-B: b" } })] }), "definition.modules.m.tools[0].http.headers[\"X-A\"]", "line break"],
  ["a response path", one({ type: "ReAct", signature: "question -> answer", tools: [http({ response: "a..b" })] }), "definition.modules.m.tools[0].http.response", "dotted path"],
  ["a field ProgramOfThought uses itself", one({ type: "ProgramOfThought", signature: "question, error -> answer" }), "definition.modules.m.signature", "'error' is reserved: ProgramOfThought uses a field of that name itself"],
  ["ProgramOfThought max_iters", one({ type: "ProgramOfThought", signature: "question -> answer", config: { max_iters: 9 } }), "definition.modules.m.config.max_iters", "from 1 to 5"],
  ["an MCP tool without tools", one({ type: "ReAct", signature: "question -> answer", tools: [{ mcp: { url: "https://mcp.example.com/mcp" } }] }), "definition.modules.m.tools[0].mcp.tools", "must list the names"],
  ["an MCP tool name", one({ type: "ReAct", signature: "question -> answer", tools: [{ mcp: { url: "https://mcp.example.com/mcp", tools: ["ok", "not ok"] } }] }), "definition.modules.m.tools[0].mcp.tools[1]", "1 to 64 letters"],
  ["an MCP url", one({ type: "ReAct", signature: "question -> answer", tools: [{ mcp: { url: "ftp://mcp.example.com", tools: ["a"] } }] }), "definition.modules.m.tools[0].mcp.url", "http(s) endpoint"],
  ["an MCP tool named as another tool", one({ type: "ReAct", signature: "question -> answer", tools: [{ ...http(), name: "search" }, { mcp: { url: "https://mcp.example.com/mcp", tools: ["search"] } }] }), "definition.modules.m.tools[1].mcp.tools[0]", "already used by tools[0]"],
  ["an MCP entry with other keys", one({ type: "ReAct", signature: "question -> answer", tools: [{ mcp: { url: "https://mcp.example.com/mcp", tools: ["a"] }, name: "x" }] }), "definition.modules.m.tools[0].name", "unknown key 'name' in an MCP tool"],
  ["Retrieve with a signature", one({ type: "Retrieve", signature: "question -> answer", corpus: "c" }), "definition.modules.m.signature", "unknown key 'signature' in a Retrieve module"],
  ["Retrieve without corpus", { inputs: { q: "str" }, modules: { m: { type: "Retrieve" } }, forward: [{ call: "m", with: { query: "$input.q" }, as: "r" }, { return: { p: "$r.passages" } }] }, "definition.modules.m", "missing required key 'corpus'"],
  ["ColBERTv2 without url", { inputs: { q: "str" }, modules: { m: { type: "ColBERTv2" } }, forward: [{ call: "m", with: { query: "$input.q" }, as: "r" }, { return: { p: "$r.passages" } }] }, "definition.modules.m", "missing required key 'url'"],
  ["ColBERTv2 url with a query", { inputs: { q: "str" }, modules: { m: { type: "ColBERTv2", url: "http://colbert.example.com/api?x=1" } }, forward: [{ call: "m", with: { query: "$input.q" }, as: "r" }, { return: { p: "$r.passages" } }] }, "definition.modules.m.url", "without query or fragment"],
  ["ColBERTv2 k", { inputs: { q: "str" }, modules: { m: { type: "ColBERTv2", url: "http://colbert.example.com/api", config: { k: 101 } } }, forward: [{ call: "m", with: { query: "$input.q" }, as: "r" }, { return: { p: "$r.passages" } }] }, "definition.modules.m.config.k", "from 1 to 100"],
  ["map over a str", one({ type: "Predict", signature: "question -> answer" }, [{ map: "$input.question", as: "e", steps: [{ return: { x: "$e.item" } }] }, { return: { x: "$e.x" } }]), "definition.forward[0].map", "map runs over a list, but this is str"],
  ["map parallel", one({ type: "Predict", signature: "question -> answer" }, [{ map: "$input.items", as: "e", parallel: 0, steps: [{ return: { x: "$e.item" } }] }, { return: { x: "$e.x" } }], { question: "str", items: "list[str]" }), "definition.forward[0].parallel", "from 1 to 8"],
  ["a map block without return", one({ type: "Predict", signature: "question -> answer" }, [{ map: "$input.items", as: "e", steps: [{ call: "m", with: { question: "$e.item" }, as: "r" }] }, { return: { x: "$e.answer" } }], { question: "str", items: "list[str]" }), "definition.forward[0].steps", "return missing: the last step of forward[0].steps"],
  ["loop max", one({ type: "Predict", signature: "question -> answer" }, [{ loop: { max: 11 }, as: "l", steps: [{ call: "m", with: { question: "$input.question" }, as: "r" }] }, { return: { x: "$input.question" } }]), "definition.forward[0].loop.max", "from 1 to 10"],
  ["a return inside a loop", one({ type: "Predict", signature: "question -> answer" }, [{ loop: { max: 2 }, as: "l", steps: [{ call: "m", with: { question: "$input.question" }, as: "r" }, { return: { a: "$r.answer" } }] }, { return: { x: "$input.question" } }]), "definition.forward[0].steps[1]", "a loop's steps have no return"],
  ["a loop var type", one({ type: "Predict", signature: "question -> answer" }, [{ loop: { max: 2 }, as: "l", vars: { v: { type: "lst[str]", value: [] } }, steps: [{ call: "m", with: { question: "$input.question" }, as: "r" }] }, { return: { x: "$input.question" } }]), "definition.forward[0].vars.v.type", "lst"],
  ["a loop var value of another type", one({ type: "Predict", signature: "question -> answer" }, [{ loop: { max: 2 }, as: "l", vars: { v: { type: "int", value: "x" } }, steps: [{ call: "m", with: { question: "$input.question" }, as: "r" }] }, { return: { x: "$input.question" } }]), "definition.forward[0].vars.v.value", "expected int"],
  ["append to a str var", one({ type: "Predict", signature: "question -> answer" }, [{ loop: { max: 2 }, as: "l", vars: { v: { type: "str", value: "" } }, steps: [{ call: "m", with: { question: "$input.question" }, as: "r" }], append: { v: "$r.answer" } }, { return: { x: "$l.v" } }]), "definition.forward[0].append.v", "append needs a list var"],
  ["append of another type", one({ type: "Predict", signature: "question -> answer" }, [{ loop: { max: 2 }, as: "l", vars: { v: { type: "list[int]", value: [] } }, steps: [{ call: "m", with: { question: "$input.question" }, as: "r" }], append: { v: "$r.answer" } }, { return: { x: "$l.v" } }]), "definition.forward[0].append.v", "appends str to v, which is list[int]"],
  ["set of a var the loop lacks", one({ type: "Predict", signature: "question -> answer" }, [{ loop: { max: 2 }, as: "l", steps: [{ call: "m", with: { question: "$input.question" }, as: "r" }], set: { w: "$r.answer" } }, { return: { x: "$input.question" } }]), "definition.forward[0].set.w", "'w' is not a var of this loop"],
  ["until on a str field", one({ type: "Predict", signature: "question -> answer" }, [{ loop: { max: 2, until: { field: "$r.answer", equals: "x" } }, as: "l", steps: [{ call: "m", with: { question: "$input.question" }, as: "r" }] }, { return: { x: "$input.question" } }]), "definition.forward[0].loop.until.field", "bool or enum field"],
  ["an if value the enum lacks", { inputs: { question: "str" }, modules: { k: { type: "Predict", signature: { inputs: { question: "str" }, outputs: { kind: { type: "enum", values: ["a", "b"] } } } } }, forward: [{ call: "k", with: { question: "$input.question" }, as: "c" }, { if: { field: "$c.kind", equals: "z" }, as: "i", then: [{ return: { x: "$$1" } }], else: [{ return: { x: "$$2" } }] }, { return: { x: "$i.x" } }] }, "definition.forward[1].if.equals", "expected one of 'a', 'b'"],
  ["branches returning different outputs", one({ type: "Predict", signature: "question -> answer" }, [{ call: "m", with: { question: "$input.question" }, as: "r" }, { if: { field: "$r.answer", equals: "x" }, as: "i", then: [{ return: { x: "$r.answer" } }], else: [{ return: { y: "$r.answer" } }] }, { return: { x: "$i.x" } }]), "definition.forward[1].if.field", "bool or enum field"],
  ["a step inside a block used after it", one({ type: "Predict", signature: "question -> answer" }, [{ loop: { max: 2 }, as: "l", steps: [{ call: "m", with: { question: "$input.question" }, as: "r" }] }, { return: { x: "$r.answer" } }]), "definition.forward[1].return.x", "is inside a map, loop or if branch that has ended"],
  ["blocks nested 4 deep", one({ type: "Predict", signature: "question -> answer" }, [{ loop: { max: 1 }, as: "a", steps: [{ loop: { max: 1 }, as: "b", steps: [{ loop: { max: 1 }, as: "c", steps: [{ loop: { max: 1 }, as: "d", steps: [{ call: "m", with: { question: "$input.question" }, as: "r" }] }] }] }] }, { return: { x: "$input.question" } }]), "definition.forward[0].steps[0].steps[0].steps[0]", "nest 4 deep here; the limit is 3"],
  ["a step of two kinds", one({ type: "Predict", signature: "question -> answer" }, [{ map: "$input.question", loop: { max: 1 }, as: "x", steps: [] }, { return: { x: "$input.question" } }]), "definition.forward[0]", "this one has 'map' and 'loop'"],
  ["a block step's unknown key", one({ type: "Predict", signature: "question -> answer" }, [{ loop: { max: 1 }, as: "l", steps: [{ call: "m", with: { question: "$input.question" }, as: "r" }], parallel: 2 }, { return: { x: "$input.question" } }]), "definition.forward[0].parallel", "unknown key 'parallel' in loop step"],
];

describe("the definition language: invalid constructs are refused with a path and a reason", () => {
  for (const [title, definition, path, reason] of INVALID) {
    it(`refuses ${title}`, () => {
      const result = validateProgramDefinition(definition);
      assert.equal(result.ok, false, "expected the definition to be rejected");
      const issues = result.ok ? [] : result.issues;
      assert.ok(
        issues.some((i) => i.path === path && i.reason.includes(reason)),
        `no issue at ${path} containing ${JSON.stringify(reason)}; got:\n${issues.map((i) => `${i.path}: ${i.reason}`).join("\n")}`,
      );
    });
  }
});
