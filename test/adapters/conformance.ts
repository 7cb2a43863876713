import { normalizeDefinition } from "../../src/programs/programOf.js";
import assert from "node:assert/strict";
import type { DspyAdapter, EvaluationProgress, ExecuteRequest, LanguageModelSpec } from "../../src/adapters/DspyAdapter.js";
import { AppError } from "../../src/errors.js";
import { qaDefinition } from "../support/fixtures.js";

/** Programs and LMs the suite runs; any DspyAdapter must give the same observable results. */
export const dummyLm = (id: string, answers: unknown): LanguageModelSpec => ({
  id,
  model: "dummy",
  apiBase: null,
  temperature: null,
  maxTokens: null,
  cache: false,
  secretEnv: null,
  config: { answers },
});

const twoStepDefinition = {
  inputs: { question: { type: "str" } },
  modules: {
    think: { type: "ChainOfThought", signature: "question -> answer" },
    grade: { type: "Predict", signature: { inputs: { reasoning: { type: "str" }, answer: { type: "str" } }, outputs: { confident: { type: "bool" }, score: { type: "int" } } } },
  },
  forward: [
    { call: "think", with: { question: "$input.question" }, as: "t" },
    { call: "grade", with: { reasoning: "$t.reasoning", answer: "$t.answer" }, as: "g" },
    { return: { answer: "$t.answer", confident: "$g.confident", score: "$g.score" } },
  ],
};

const capitalsDefinition = {
  inputs: { question: { type: "str" } },
  modules: { answerer: { type: "Predict", signature: "question -> answer" } },
  forward: [{ call: "answerer", with: { question: "$input.question" }, as: "a" }, { return: { answer: "$a.answer" } }],
};

/** Five questions; the dummy LM is right for France, Italy and Spain only: 3/5 → 60. */
const capitals = [
  ["France", "Paris", "Paris"],
  ["Italy", "Rome", "Rome"],
  ["Spain", "Madrid", "Madrid"],
  ["Germany", "Berlin", "Munich"],
  ["Japan", "Tokyo", "Kyoto"],
] as const;
const capitalsLm = (id: string) => dummyLm(id, Object.fromEntries(capitals.map(([country, , answer]) => [`capital of ${country}`, { answer }])));
const capitalExamples = capitals.map(([country, label]) => ({ inputs: { question: `What is the capital of ${country}?` }, labels: { capital: label } }));

/** The same questions labeled with the output's own name, so DSPy shows them as complete demos. */
const labeledExamples = capitals.map(([country, label]) => ({ inputs: { question: `What is the capital of ${country}?` }, labels: { answer: label } }));

let counter = 0;
const version = (definition: unknown) => ({ versionId: `00000000-0000-7000-8000-${String(++counter).padStart(12, "0")}`, program: normalizeDefinition(definition), compiledState: null });

async function expectAppError(promise: Promise<unknown>, code: string, layer: string, retriable?: boolean): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AppError, `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, code, `${error.code}: ${error.message}`);
    assert.equal(error.layer, layer);
    if (retriable !== undefined) assert.equal(error.retriable, retriable);
    return error;
  }
  assert.fail(`expected ${code}, got a result`);
}

/** The shared bar every adapter passes: outputs, trace, usage, LM choice, and the error contract. */
export function describeAdapterConformance(name: string, adapter: () => DspyAdapter): void {
  describe(`DspyAdapter conformance: ${name}`, function () {
    this.timeout(60_000);
    const qa = version(qaDefinition());

    it("runs a ChainOfThought program and returns outputs, a trace and usage", async () => {
      const lm = dummyLm("lm-qa", [{ reasoning: "The context says so.", answer: "Paris" }]);
      const result = await adapter().execute({ program: qa, lm, inputs: { context: ["Paris is the capital of France."], question: "Capital of France?" } });
      assert.deepEqual(result.outputs, { answer: "Paris" });
      assert.equal(result.trace.length, 1);
      const [call] = result.trace;
      assert.equal(call.step, "gen");
      assert.equal(call.module, "generate");
      assert.equal(call.type, "ChainOfThought");
      assert.deepEqual(call.inputs, { context: ["Paris is the capital of France."], question: "Capital of France?" });
      assert.equal(call.outputs.answer, "Paris");
      assert.equal(call.outputs.reasoning, "The context says so.");
      assert.ok(call.duration_ms >= 0);
      assert.equal(call.lm_calls.length, 1);
      assert.match(JSON.stringify(call.lm_calls[0].messages), /Capital of France\?/);
      assert.equal(result.usage.lm_calls, 1);
    });

    it("feeds one module's outputs (ChainOfThought's reasoning included) into the next, typed", async () => {
      const lm = dummyLm("lm-two", [
        { reasoning: "Because 6*7.", answer: "42" },
        { confident: true, score: 9 },
      ]);
      const result = await adapter().execute({ program: version(twoStepDefinition), lm, inputs: { question: "6 times 7?" } });
      assert.deepEqual(result.outputs, { answer: "42", confident: true, score: 9 });
      assert.deepEqual(result.trace.map((c) => c.step), ["t", "g"]);
      assert.deepEqual(result.trace[1].inputs, { reasoning: "Because 6*7.", answer: "42" });
      assert.equal(result.usage.lm_calls, 2);
    });

    it("uses the LM each request names, also when requests run concurrently", async () => {
      const requests: ExecuteRequest[] = Array.from({ length: 24 }, (_, i) => ({
        program: qa,
        lm: dummyLm(`lm-${i % 3}`, { [`question number ${i}`]: { reasoning: "r", answer: `answer ${i} from lm-${i % 3}` } }),
        inputs: { context: [], question: `question number ${i}` },
      }));
      const results = await Promise.all(requests.map((r) => adapter().execute(r)));
      results.forEach((result, i) => assert.equal(result.outputs.answer, `answer ${i} from lm-${i % 3}`));
    });

    it("rejects a program it cannot build as INVALID_DEFINITION with the issues", async () => {
      const bad = version(qaDefinition());
      (bad.program.modules as any).generate.type = "Unknown";
      const error = await expectAppError(adapter().execute({ program: bad, lm: dummyLm("lm-x", [{}]), inputs: { context: [], question: "q" } }), "INVALID_DEFINITION", "validation", false);
      assert.ok(JSON.stringify(error.details).includes("definition.modules.generate.type"));
    });

    it("rejects missing, undeclared and mistyped inputs as INVALID_INPUTS", async () => {
      const lm = dummyLm("lm-in", [{ reasoning: "r", answer: "a" }]);
      for (const inputs of [{ question: "q" }, { context: [], question: "q", extra: 1 }, { context: "not a list", question: "q" }]) {
        await expectAppError(adapter().execute({ program: qa, lm, inputs }), "INVALID_INPUTS", "validation", false);
      }
    });

    it("fails with DSPY_ERROR when the LM's answer lacks an output field", async () => {
      const lm = dummyLm("lm-parse", [{ reasoning: "r" }]);
      await expectAppError(adapter().execute({ program: qa, lm, inputs: { context: [], question: "q" } }), "DSPY_ERROR", "dspy", false);
    });

    it("does not run an execution whose signal is already aborted: CANCELLED", async () => {
      const lm = dummyLm("lm-cancel", [{ reasoning: "r", answer: "Paris" }]);
      const controller = new AbortController();
      controller.abort();
      await expectAppError(adapter().execute({ program: qa, lm, inputs: { context: [], question: "q" }, signal: controller.signal }), "CANCELLED", "worker", false);
      const result = await adapter().execute({ program: qa, lm, inputs: { context: [], question: "q" }, signal: new AbortController().signal });
      assert.deepEqual(result.outputs, { answer: "Paris" });
    });

    it("fails with a retriable lm-layer error when the LM cannot be reached", async () => {
      const lm: LanguageModelSpec = { ...dummyLm("lm-down", null), model: "openai/nothing-here", apiBase: "http://127.0.0.1:9/v1", config: null };
      const error = await expectAppError(adapter().execute({ program: qa, lm, inputs: { context: [], question: "q" }, deadlineMs: 30_000 }), "LM_UNAVAILABLE", "lm", true);
      assert.ok(!error.message.includes("Traceback"));
    });

    it("evaluates a program with exact_match: score 60 for 3 of 5, per-example results in order, progress to the end", async () => {
      const seen: EvaluationProgress[] = [];
      const result = await adapter().evaluate({
        program: version(capitalsDefinition),
        lm: capitalsLm("lm-eval"),
        examples: capitalExamples,
        metric: { kind: "exact_match", output: "answer", label: "capital" },
        onProgress: (p) => seen.push(p),
      });
      assert.equal(result.score, 60);
      assert.deepEqual(result.results.map((r) => [r.inputs.question, r.labels.capital, r.prediction?.answer, r.score, r.error]), capitals.map(([country, label, answer]) => [`What is the capital of ${country}?`, label, answer, answer === label ? 1 : 0, null]));
      assert.ok(seen.length >= 2, JSON.stringify(seen));
      assert.deepEqual(seen[0], { phase: "evaluate", done: 0, total: 5 });
      assert.equal(seen[seen.length - 1].phase, "done");
      assert.equal(seen[seen.length - 1].done, 5);
      const dones = seen.filter((p) => p.phase === "evaluate").map((p) => p.done);
      assert.deepEqual(dones, [...dones].sort((a, b) => a - b), "done never goes back");
    });

    it("scores normalized_exact_match, contains and numeric (with tolerance) like DSPy's helpers", async () => {
      const lm = dummyLm("lm-eval-kinds", { alpha: { answer: "The  Paris!" }, beta: { answer: "It is 41.6 degrees" }, gamma: { answer: "42.4" } });
      const examples = [
        { inputs: { question: "alpha" }, labels: { text: "paris", number: 1 } },
        { inputs: { question: "beta" }, labels: { text: "41.6 DEGREES", number: 41.6 } },
        { inputs: { question: "gamma" }, labels: { text: ["x", "42.4"], number: 42 } },
      ];
      const evaluate = (metric: any) => adapter().evaluate({ program: version(capitalsDefinition), lm, examples, metric });
      const normalized = await evaluate({ kind: "normalized_exact_match", output: "answer", label: "text" });
      assert.deepEqual(normalized.results.map((r) => r.score), [1, 0, 1]);
      assert.equal(normalized.score, 66.67);
      const contains = await evaluate({ kind: "contains", output: "answer", label: "text" });
      assert.deepEqual(contains.results.map((r) => r.score), [1, 1, 1]);
      assert.equal(contains.score, 100);
      const numeric = await evaluate({ kind: "numeric", output: "answer", label: "number", tolerance: 0.5 });
      assert.deepEqual(numeric.results.map((r) => r.score), [0, 0, 1]);
      assert.equal(numeric.score, 33.33);
    });

    it("records a failing example (no LM answer) as score 0 with an error, without failing the evaluation", async () => {
      const lm = dummyLm("lm-eval-gap", { France: { answer: "Paris" } });
      const result = await adapter().evaluate({
        program: version(capitalsDefinition),
        lm,
        examples: capitalExamples.slice(0, 2),
        metric: { kind: "exact_match", output: "answer", label: "capital" },
      });
      assert.equal(result.score, 50);
      assert.equal(result.results[0].error, null);
      assert.equal(result.results[1].score, 0);
      assert.equal(result.results[1].prediction, null);
      assert.match(result.results[1].error ?? "", /^[A-Z_]+: /);
    });

    it("refuses a metric on a missing output or label as INVALID_METRIC before running anything", async () => {
      const base = { program: version(capitalsDefinition), lm: capitalsLm("lm-eval-bad"), examples: capitalExamples };
      const noOutput = await expectAppError(adapter().evaluate({ ...base, metric: { kind: "exact_match", output: "nope", label: "capital" } }), "INVALID_METRIC", "validation", false);
      assert.equal((noOutput.details?.issues as any[])[0].path, "metric.output");
      const noLabel = await expectAppError(adapter().evaluate({ ...base, metric: { kind: "exact_match", output: "answer", label: "city" } }), "INVALID_METRIC", "validation", false);
      assert.equal((noLabel.details?.issues as any[])[0].path, "metric.label");
      const tolerance = await expectAppError(adapter().evaluate({ ...base, metric: { kind: "exact_match", output: "answer", label: "capital", tolerance: 1 } }), "INVALID_METRIC", "validation", false);
      assert.equal((tolerance.details?.issues as any[])[0].path, "metric.tolerance");
    });

    it("stops an evaluation whose signal is aborted with CANCELLED", async () => {
      const controller = new AbortController();
      controller.abort();
      await expectAppError(
        adapter().evaluate({ program: version(capitalsDefinition), lm: capitalsLm("lm-eval-cancel"), examples: capitalExamples, metric: { kind: "exact_match", output: "answer", label: "capital" }, signal: controller.signal }),
        "CANCELLED",
        "worker",
        false,
      );
    });

    it("compiles with LABELED_FEW_SHOT: demos are the first k training examples, scored, and a run with that state shows them", async () => {
      const program = version(capitalsDefinition);
      const seen: string[] = [];
      const result = await adapter().compile({
        program,
        lm: capitalsLm("lm-compile"),
        optimizer: "LABELED_FEW_SHOT",
        config: { k: 2, sample: false },
        trainset: labeledExamples,
        metric: { kind: "exact_match", output: "answer", label: "answer" },
        onProgress: (p) => seen.push(p.phase),
      });
      const state = result.compiledState.answerer as { demos: Record<string, unknown>[]; lm: unknown };
      assert.deepEqual(Object.keys(result.compiledState), ["answerer"]);
      assert.deepEqual(state.demos, labeledExamples.slice(0, 2).map((e) => ({ ...e.inputs, ...e.labels })));
      assert.equal(state.lm, null);
      assert.equal(result.score, 60);
      assert.equal(result.scoredOn, "trainset");
      assert.deepEqual({ ...result.dspyState, metadata: undefined }, { ...result.compiledState, metadata: undefined });
      assert.equal(seen[0], "compile");
      assert.equal(seen[seen.length - 1], "done");
      const executed = await adapter().execute({ program: { ...program, versionId: version(qaDefinition()).versionId, compiledState: result.compiledState }, lm: capitalsLm("lm-compile"), inputs: { question: "What is the capital of Spain?" } });
      assert.deepEqual(executed.outputs, { answer: "Madrid" });
      const text = JSON.stringify(executed.trace[0].lm_calls[0].messages);
      assert.ok(text.includes("What is the capital of France?") && text.includes("What is the capital of Italy?"), text);
      // The save() JSON imports back; a tampered one is INVALID_STATE with a path.
      const imported = await adapter().importState(normalizeDefinition(capitalsDefinition), result.dspyState);
      assert.deepEqual((imported.compiledState.answerer as { demos: unknown }).demos, state.demos);
      const tampered = structuredClone(result.dspyState) as Record<string, any>;
      tampered.answerer.demos[0] = "What is the capital of France? Paris";
      const error = await expectAppError(adapter().importState(normalizeDefinition(capitalsDefinition), tampered), "INVALID_STATE", "validation", false);
      assert.equal((error.details?.issues as any[])[0].path, "state.answerer.demos[0]");
    });

    it("imports what DSPy's load_state takes (demo keys the signature does not use, arrays left out) and refuses what is not this program's state, at its path", async () => {
      const saved = () => ({
        answerer: {
          traces: [],
          train: [],
          demos: [{ question: "What is the capital of France?", answer: "Paris", region: "Europe", id: 7 }],
          signature: { instructions: "Given the fields `question`, produce the fields `answer`.", fields: [{ prefix: "Question:", description: "${question}" }, { prefix: "Answer:", description: "${answer}" }] },
          lm: null,
        },
        metadata: { dependency_versions: { python: "3.11", dspy: "3.4.1", cloudpickle: "3.1" } },
      });
      const labeled = await adapter().importState(normalizeDefinition(capitalsDefinition), saved());
      assert.deepEqual(labeled.predictors, ["answerer"]);
      assert.deepEqual((labeled.compiledState.answerer as { demos: unknown }).demos, saved().answerer.demos);
      const { traces, train, ...sparse } = saved().answerer;
      const filled = (await adapter().importState(normalizeDefinition(capitalsDefinition), { answerer: { ...sparse, fields: {} } })).compiledState.answerer as Record<string, unknown>;
      assert.deepEqual([filled.traces, filled.train, filled.lm], [[], [], null]);
      const reasoned = {
        "think.predict": {
          demos: [{ augmented: true, question: "q", reasoning: "r", answer: "a" }],
          signature: { instructions: "Think.", fields: ["Question:", "Reasoning:", "Answer:"].map((prefix) => ({ prefix, description: "" })) },
          lm: null,
        },
        grade: { demos: [], signature: { instructions: "Grade.", fields: ["Reasoning:", "Answer:", "Confident:", "Score:"].map((prefix) => ({ prefix, description: "" })) }, lm: null },
      };
      assert.deepEqual((await adapter().importState(normalizeDefinition(twoStepDefinition), reasoned)).predictors, ["think.predict", "grade"]);

      const refused = async (definition: unknown, state: unknown) =>
        ((await expectAppError(adapter().importState(normalizeDefinition(definition), state), "INVALID_STATE", "validation", false)).details?.issues as { path: string }[]).map((i) => i.path);
      const changed = (change: (s: any) => void) => {
        const state: any = saved();
        change(state);
        return refused(capitalsDefinition, state);
      };
      assert.deepEqual(await changed((s) => (s.other = s.answerer)), ["state.other"]);
      assert.deepEqual(await changed((s) => (s.answerer.temperature = 0.3)), ["state.answerer.temperature"]);
      assert.deepEqual(await changed((s) => (s.answerer.lm = { model: "openai/gpt-4o-mini" })), ["state.answerer.lm"]);
      assert.deepEqual(await changed((s) => delete s.answerer.lm), ["state.answerer.lm"]);
      assert.deepEqual(await changed((s) => s.answerer.signature.fields.pop()), ["state.answerer.signature.fields"]);
      assert.deepEqual(await changed((s) => (s.answerer.demos = {})), ["state.answerer.demos"]);
      assert.deepEqual(await changed((s) => delete s.answerer), ["state.answerer"]);
      assert.deepEqual(await refused(twoStepDefinition, { ...reasoned, "think.predict": { ...reasoned["think.predict"], demos: [1] } }), ['state["think.predict"].demos[0]']);
    });

    it("refuses a compile with a config key its optimizer does not take (INVALID_CONFIG at config.<key>)", async () => {
      const error = await expectAppError(
        adapter().compile({ program: version(capitalsDefinition), lm: capitalsLm("lm-compile"), optimizer: "LABELED_FEW_SHOT", config: { depth: 2 }, trainset: labeledExamples, metric: { kind: "exact_match", output: "answer", label: "answer" } }),
        "INVALID_CONFIG",
        "validation",
        false,
      );
      assert.equal((error.details?.issues as any[])[0].path, "config.depth");
    });

    it("reports health", async () => {
      const health = await adapter().health();
      assert.equal(health.ok, true);
    });
  });
}
