import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import type { ExecuteResult, LanguageModelSpec } from "../src/adapters/DspyAdapter.js";
import { ZmqPythonAdapter } from "../src/adapters/ZmqPythonAdapter.js";
import { AppError } from "../src/errors.js";
import { DSPY_VERSION } from "../src/native/dspyVersion.js";
import { NativeAdapter } from "../src/native/NativeAdapter.js";
import type { NormalizedProgram } from "../src/programs/definition/index.js";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../src/workers/bridgePaths.js";
import { WorkerPool } from "../src/workers/WorkerPool.js";
import { normalizeDefinition } from "../src/programs/programOf.js";
import { type CorpusCase, chatReply, handPickedCases, randomCases } from "./support/nativeCorpus.js";
import { TEST_POLICIES } from "./support/harness.js";
import { startRecordingOpenAI } from "./support/recordingOpenAI.js";

/**
 * The native adapter against real DSPy: each case of the corpus runs once through the Python workers
 * (DSPy 3.4.1, its ChatAdapter and JSONAdapter fallback) and once through src/native, each against
 * its own script of the same answers on a recording OpenAI-compatible server. The requests must be
 * the same, byte for byte (messages, and response_format when there is one), and so must the outcome:
 * the outputs, or the error's code.
 */
describe("native adapter conformance with DSPy", function () {
  this.timeout(300_000);
  let pool: WorkerPool;
  let python: ZmqPythonAdapter;
  let native: NativeAdapter;
  let server: Awaited<ReturnType<typeof startRecordingOpenAI>>;
  let counter = 0;
  /** What the corpus exercised, printed at the end: JSON fallbacks, answers DSPy parsed for the adapter, failed runs. */
  const seen = { cases: 0, fallbacks: 0, parsedByDspy: 0, failed: 0 };

  before(async () => {
    pool = new WorkerPool({ workers: 2, concurrency: 4, python: BRIDGE_PYTHON, bridgeDir: BRIDGE_DIR });
    await pool.start();
    python = new ZmqPythonAdapter(pool, undefined, TEST_POLICIES);
    const parseAnswer = python.parseAnswer.bind(python);
    python.parseAnswer = (request) => (seen.parsedByDspy++, parseAnswer(request));
    native = new NativeAdapter(python, "native", undefined, TEST_POLICIES);
    server = await startRecordingOpenAI();
  });
  after(async () => {
    console.log(`      native conformance corpus: ${seen.cases} cases, ${seen.fallbacks} with DSPy's JSON fallback, ${seen.parsedByDspy} answers parsed by DSPy (json_repair), ${seen.failed} failing runs (same error code on both)`);
    await server?.close();
    await python?.close();
  });

  it(`runs against the DSPy version it matches (${DSPY_VERSION})`, () => {
    const installed = spawnSync(BRIDGE_PYTHON, ["-c", "import dspy; print(dspy.__version__)"], { encoding: "utf8" }).stdout.trim();
    assert.equal(installed, DSPY_VERSION, "DSPy changed: run this suite, then update src/native and DSPY_VERSION together");
  });

  /** Runs one case on one adapter; the requests the server got, and the result or the error's code. */
  async function runOn(which: "python" | "native", c: CorpusCase) {
    const key = `case-${++counter}-${which}`;
    server.script(key, c.replies);
    // One model name per case (DSPy's model metadata decides the JSON fallback's response_format), one apiBase per run.
    const model = c.model ?? "local-model";
    const lm: LanguageModelSpec = { id: key, model: `openai/${model}`, apiBase: server.apiBase(key), temperature: null, maxTokens: null, cache: false, secretEnv: null, config: null };
    const program = { versionId: `00000000-0000-7000-8000-${String(counter).padStart(12, "0")}`, program: c.definition as unknown as NormalizedProgram, compiledState: c.compiledState };
    const request = { program, lm, inputs: c.inputs, deadlineMs: 30_000 };
    let result: ExecuteResult | null = null;
    let error: AppError | null = null;
    try {
      result = which === "python" ? await python.execute(request) : await native.execute(request);
    } catch (cause) {
      if (!(cause instanceof AppError)) throw cause;
      error = cause;
    }
    for (const call of result?.trace.flatMap((e) => e.lm_calls) ?? []) assert.equal(call.model, lm.model);
    return { requests: server.requests(key).map((r) => ({ messages: r.body.messages, response_format: r.body.response_format })), result, error };
  }

  async function conform(c: CorpusCase): Promise<void> {
    const dspy = await runOn("python", c);
    const ours = await runOn("native", c);
    seen.cases++;
    if (dspy.requests.length > 1) seen.fallbacks++;
    if (dspy.error) seen.failed++;
    const label = `${c.name}\n${JSON.stringify({ definition: c.definition, inputs: c.inputs, replies: c.replies })}`;
    assert.equal(ours.requests.length, dspy.requests.length, `LM calls differ: ${label}`);
    ours.requests.forEach((request, i) => {
      assert.equal(JSON.stringify(request.messages), JSON.stringify(dspy.requests[i]!.messages), `request ${i} messages differ: ${label}`);
      assert.deepEqual(request.response_format ?? null, dspy.requests[i]!.response_format ?? null, `request ${i} response_format differs: ${label}`);
    });
    assert.equal(ours.error?.code ?? null, dspy.error?.code ?? null, `outcome differs (${ours.error?.message ?? "ok"} vs ${dspy.error?.message ?? "ok"}): ${label}`);
    if (dspy.result && ours.result) {
      assert.deepEqual(ours.result.outputs, dspy.result.outputs, `outputs differ: ${label}`);
      assert.equal(ours.result.adapter, "native");
      assert.deepEqual(ours.result.usage, dspy.result.usage, `usage differs: ${label}`);
      const shape = (r: ExecuteResult) => r.trace.map((e) => ({ step: e.step, module: e.module, type: e.type, inputs: e.inputs, outputs: e.outputs, calls: e.lm_calls.map((c) => ({ messages: c.messages, response: c.response, usage: c.usage })) }));
      assert.deepEqual(shape(ours.result), shape(dspy.result), `trace differs: ${label}`);
    }
  }

  for (const c of handPickedCases()) it(`matches DSPy: ${c.name}`, () => conform(c));

  it("matches DSPy with the compiled state of real optimizations (LabeledFewShot with 8 demos, BootstrapFewShot)", async () => {
    const definition = normalizeDefinition({
      inputs: { question: { type: "str" } },
      modules: { think: { type: "ChainOfThought", signature: "question -> answer" } },
      forward: [{ call: "think", with: { question: "$input.question" }, as: "t" }, { return: { answer: "$t.answer" } }],
    });
    const countries = ["France", "Italy", "Spain", "Germany", "Japan", "Peru", "Chile", "Kenya", "Egypt", "Nepal"];
    const trainset = countries.map((c) => ({ inputs: { question: `Capital of ${c}?` }, labels: { answer: `${c} capital` } }));
    const lm: LanguageModelSpec = { id: "optimizer-lm", model: "dummy", apiBase: null, temperature: null, maxTokens: null, cache: false, secretEnv: null, config: { answers: Object.fromEntries(countries.map((c) => [`Capital of ${c}?`, { reasoning: `It is ${c}'s.`, answer: `${c} capital` }])) } };
    const metric = { kind: "exact_match" as const, output: "answer", label: "answer" };
    const base = { program: { versionId: "00000000-0000-7000-8000-ffffffffff01", program: definition, compiledState: null }, lm, trainset, metric };
    const labeled = await python.compile({ ...base, optimizer: "LABELED_FEW_SHOT", config: { k: 8 } });
    const bootstrapped = await python.compile({ ...base, optimizer: "BOOTSTRAP_FEW_SHOT", config: { max_bootstrapped_demos: 3, max_labeled_demos: 2 } });
    const demos = (state: Record<string, unknown>) => (state["think.predict"] as { demos: Record<string, unknown>[] }).demos;
    assert.equal(demos(labeled.compiledState).length, 8);
    assert.ok(demos(bootstrapped.compiledState).some((d) => d.augmented === true && typeof d.reasoning === "string"), JSON.stringify(bootstrapped.compiledState));
    for (const compiledState of [labeled.compiledState, bootstrapped.compiledState]) {
      await conform({ name: "optimized", definition: definition as unknown as Record<string, unknown>, compiledState, inputs: { question: "Capital of Chad?" }, replies: [chatReply([["reasoning", "r"], ["answer", "N'Djamena"]])] });
    }
  });

  // NATIVE_CORPUS_SEED / NATIVE_CORPUS_CASES run another or a larger sample (CI runs the default).
  const seed = Number(process.env.NATIVE_CORPUS_SEED ?? 20261204);
  const count = Number(process.env.NATIVE_CORPUS_CASES ?? 300);
  it(`matches DSPy on ${count} generated signatures, demos, inputs and answers (seed ${seed})`, async () => {
    const cases = randomCases(seed, count);
    let next = 0;
    const lane = async () => {
      while (next < cases.length) await conform(cases[next++]!);
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
  });
});
