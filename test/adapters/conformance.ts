import assert from "node:assert/strict";
import type { DspyAdapter, ExecuteRequest, LanguageModelSpec } from "../../src/adapters/DspyAdapter.js";
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

let counter = 0;
const version = (definition: unknown) => ({ versionId: `00000000-0000-7000-8000-${String(++counter).padStart(12, "0")}`, definition, compiledState: null });

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

    it("rejects an invalid definition as INVALID_DEFINITION with the issues", async () => {
      const bad = qaDefinition();
      (bad.modules as any).generate.type = "Unknown";
      const error = await expectAppError(adapter().execute({ program: version(bad), lm: dummyLm("lm-x", [{}]), inputs: {} }), "INVALID_DEFINITION", "validation", false);
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

    it("fails with a retriable lm-layer error when the LM cannot be reached", async () => {
      const lm: LanguageModelSpec = { ...dummyLm("lm-down", null), model: "openai/nothing-here", apiBase: "http://127.0.0.1:9/v1", config: null };
      const error = await expectAppError(adapter().execute({ program: qa, lm, inputs: { context: [], question: "q" }, deadlineMs: 30_000 }), "LM_UNAVAILABLE", "lm", true);
      assert.ok(!error.message.includes("Traceback"));
    });

    it("reports health", async () => {
      const health = await adapter().health();
      assert.equal(health.ok, true);
    });
  });
}
