import { MODULE_TYPES } from "../catalog.js";
import { AppError } from "../errors.js";
import { type FieldType, type ModuleSpec, type NormalizedProgram, checkValue } from "../programs/definition/index.js";
import { RunBudget, runSteps } from "../native/forward.js";
import { validateProgramInputs } from "../programs/validateProgramInputs.js";
import { aggregateScore, commonLabels, scoreSimple, validateMetric } from "../evaluations/metrics.js";
import type { IssueDetail } from "../errors.js";
import type {
  AdapterHealth,
  CorpusHit,
  CorpusSpec,
  EmbedRequest,
  EmbedResult,
  SearchCorpusRequest,
  CompileRequest,
  CompileResult,
  DspyAdapter,
  ImportStateResult,
  EvaluateRequest,
  EvaluateResult,
  EvaluationExampleResult,
  ExecuteRequest,
  ExecuteResult,
  LanguageModelSpec,
  McpToolInfo,
  ModuleCallTrace,
} from "./DspyAdapter.js";
import { checkImportedState, predictorName } from "./importedState.js";
import { decodeVector, dot, encodeVector } from "../corpora/vectors.js";
import { HASHED_DIMS, hashedEmbedding } from "./hashedEmbedding.js";

type Answers = Record<string, unknown>[] | Record<string, Record<string, unknown>>;

/**
 * A deterministic stand-in for DSPy, for fast domain tests: it walks the same definitions with the
 * same validation, and answers each module call from the `dummy` model's answers the way DSPy's
 * DummyLM does (a list answered in turn, or the first key found in the prompt). It cannot reach
 * real LMs: any other model fails as unreachable.
 */
export class InProcessAdapter implements DspyAdapter {
  readonly name = "in-process";
  private readonly corpora = new Map<string, { id: string; text: string; vector: Float32Array }[]>();

  async configure(lm: LanguageModelSpec): Promise<void> {
    if (lm.model !== "dummy") throw unreachable(lm.model);
  }

  async execute(request: ExecuteRequest): Promise<ExecuteResult> {
    const program = runnable(buildable(request.program.program));
    const inputIssues = validateProgramInputs(program, request.inputs, "inputs");
    if (inputIssues.length > 0) {
      throw new AppError("INVALID_INPUTS", `${inputIssues[0].path}: ${inputIssues[0].reason}`, { layer: "validation", details: { issues: inputIssues } });
    }
    if (request.lm.model !== "dummy") throw unreachable(request.lm.model);
    // A run here is one synchronous step: it can only be cancelled before it starts.
    if (request.signal?.aborted) throw new AppError("CANCELLED", "the execution was cancelled", { layer: "worker" });
    const answers = (request.lm.config?.answers ?? []) as Answers;
    return { ...(await run(program, request.inputs, answers, { next: 0 }, request.program.compiledState)), adapter: "in-process" };
  }

  /**
   * dspy.Evaluate's contract for the simple metric kinds (token_f1 included); `passage_match` and
   * `lm_judge` need DSPy and fail with UNSUPPORTED. As with DSPy's DummyLM, one list of answers is
   * answered in turn across the whole evaluation.
   */
  async evaluate(request: EvaluateRequest): Promise<EvaluateResult> {
    const program = runnable(buildable(request.program.program));
    const exampleIssues: IssueDetail[] = [];
    request.examples.forEach((example, i) => {
      exampleIssues.push(...validateProgramInputs(program, example.inputs, `examples[${i}].inputs`));
      for (const name of Object.keys(example.labels ?? {})) {
        if (Object.hasOwn(example.inputs ?? {}, name)) exampleIssues.push({ path: `examples[${i}].labels.${name}`, reason: `'${name}' is an input; a label must have another name` });
      }
    });
    if (exampleIssues.length > 0) throw invalid("INVALID_EXAMPLES", exampleIssues);
    const { judge, ...spec } = request.metric;
    const metricIssues = validateMetric(judge ? { ...spec, judge: { ...judge, lm: undefined, lm_key: judge.lm.id } } : spec, {
      outputs: Object.keys(program.outputs),
      labels: commonLabels(request.examples),
      inputs: Object.keys(program.inputs),
      root: "metric",
    });
    if (metricIssues.length > 0) throw invalid("INVALID_METRIC", metricIssues);
    if (scoreSimple(spec.kind, "", "") === null) {
      throw new AppError("UNSUPPORTED", `the in-process adapter cannot score '${spec.kind}' metrics; they need DSPy (DSPY_ADAPTER=python)`, { layer: "validation" });
    }
    const threads = request.numThreads ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > 32) throw invalid("BAD_MESSAGE", [{ path: "payload.num_threads", reason: "must be an integer from 1 to 32" }]);
    if (request.lm.model !== "dummy") throw unreachable(request.lm.model);
    const answers = (request.lm.config?.answers ?? []) as Answers;
    const cursor = { next: 0 };
    const total = request.examples.length;
    request.onProgress?.({ phase: "evaluate", done: 0, total });
    const results: EvaluationExampleResult[] = [];
    for (const example of request.examples) {
      if (request.signal?.aborted) throw new AppError("CANCELLED", "the evaluation was cancelled", { layer: "worker" });
      let prediction: Record<string, unknown> | null = null;
      let score = 0;
      let error: string | null = null;
      try {
        prediction = (await run(program, example.inputs, answers, cursor, request.program.compiledState)).outputs;
        if (!Object.hasOwn(prediction, spec.output)) error = `metric: the prediction has no output '${spec.output}'`;
        else score = scoreSimple(spec.kind, prediction[spec.output], example.labels[spec.label], spec.tolerance ?? 0) ?? 0;
      } catch (cause) {
        if (!(cause instanceof AppError)) throw cause;
        error = `${cause.code}: ${cause.message}`;
      }
      results.push({ inputs: example.inputs, labels: example.labels, prediction, score, error });
      request.onProgress?.({ phase: "evaluate", done: results.length, total });
    }
    request.onProgress?.({ phase: "done", done: total, total });
    return { score: aggregateScore(results.map((r) => r.score)), results };
  }

  /**
   * LABELED_FEW_SHOT only, deterministically: each predictor's demos are the first `k` (default 16)
   * training examples, inputs and labels together, as DSPy's LabeledFewShot with `sample: false`
   * keeps them. Every other optimizer needs DSPy: UNSUPPORTED.
   */
  async compile(request: CompileRequest): Promise<CompileResult> {
    const started = performance.now();
    const program = runnable(buildable(request.program.program));
    if (request.optimizer !== "LABELED_FEW_SHOT") {
      throw new AppError("UNSUPPORTED", `the in-process adapter cannot run ${request.optimizer}; it needs DSPy (DSPY_ADAPTER=python)`, { layer: "validation" });
    }
    const config = request.config ?? {};
    for (const key of Object.keys(config)) {
      if (key !== "k" && key !== "sample") throw invalid("INVALID_CONFIG", [{ path: `config.${key}`, reason: `LABELED_FEW_SHOT takes no '${key}' (it takes k, sample)` }]);
    }
    const k = config.k ?? 16;
    if (typeof k !== "number" || !Number.isInteger(k) || k < 1 || k > 100) throw invalid("INVALID_CONFIG", [{ path: "config.k", reason: "must be an integer from 1 to 100" }]);
    if (request.trainset.length === 0) throw invalid("INVALID_EXAMPLES", [{ path: "trainset", reason: "must not be empty" }]);
    const demos = request.trainset.slice(0, k).map((e) => ({ ...e.inputs, ...e.labels }));
    const compiledState: Record<string, unknown> = {};
    for (const [name, module] of Object.entries(program.modules)) {
      compiledState[predictorName(name, module)] = { traces: [], train: [], demos, signature: signatureState(module), lm: null };
    }
    request.onProgress?.({ phase: "compile", done: 0, trials: 0, bestScore: null, metricCalls: 0 });
    if (request.signal?.aborted) throw new AppError("CANCELLED", "the optimization was cancelled", { layer: "worker" });
    request.onProgress?.({ phase: "evaluate", done: 0, trials: 0, bestScore: null, metricCalls: 0 });
    const scoredOn = request.devset && request.devset.length > 0 ? "devset" : "trainset";
    const evaluation = await this.evaluate({
      program: { ...request.program, compiledState },
      lm: request.lm,
      examples: scoredOn === "devset" ? request.devset! : request.trainset,
      metric: request.metric,
      signal: request.signal,
    });
    const metricCalls = evaluation.results.length;
    request.onProgress?.({ phase: "done", done: metricCalls, trials: 0, bestScore: null, metricCalls });
    return {
      compiledState,
      dspyState: { ...compiledState, metadata: { dependency_versions: { dspy: "in-process" } } },
      score: evaluation.score,
      scoredOn,
      trials: 0,
      bestTrialScore: null,
      metricCalls,
      compileMs: performance.now() - started,
    };
  }

  /** The worker's import rules (bridge-py/dspy_bridge/state_io.py), checked here in TypeScript. */
  async importState(program: NormalizedProgram, state: unknown): Promise<ImportStateResult> {
    const { issues, compiledState, predictors } = checkImportedState(runnable(buildable(program)), state);
    if (issues.length > 0) throw invalid("INVALID_STATE", issues);
    return { compiledState, predictors };
  }

  /** Any model: the deterministic hashed bag of words (hashedEmbedding.ts), so tests need no worker. */
  async embed(request: EmbedRequest): Promise<EmbedResult> {
    if (request.texts.length > MAX_EMBED_TEXTS) throw new AppError("BAD_MESSAGE", `payload.texts holds ${request.texts.length} texts; at most ${MAX_EMBED_TEXTS} a request`, { layer: "protocol" });
    return { vectors: request.texts.map((text) => encodeVector(hashedEmbedding(text))), dims: HASHED_DIMS };
  }

  async defineCorpus(corpus: CorpusSpec): Promise<void> {
    await this.heldCorpus(corpus);
  }

  /** Exact cosine search over the stored vectors, the query embedded as `embed` does. */
  async searchCorpus(request: SearchCorpusRequest): Promise<CorpusHit[]> {
    if (!Number.isInteger(request.k) || request.k < 1 || request.k > 100) throw new AppError("BAD_MESSAGE", "k must be an integer from 1 to 100", { layer: "protocol", details: { path: "payload.k" } });
    const documents = await this.heldCorpus(request.corpus);
    const query = hashedEmbedding(request.query);
    return documents
      .map((d) => ({ id: d.id, text: d.text, score: dot(query, d.vector) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, request.k);
  }

  /** As a worker holds corpora: by id and hash, a few at a time, loaded when missing. */
  private async heldCorpus(corpus: CorpusSpec): Promise<{ id: string; text: string; vector: Float32Array }[]> {
    const key = `${corpus.corpusId}:${corpus.hash}`;
    let held = this.corpora.get(key);
    if (!held) {
      held = (await corpus.documents()).map((d) => ({ id: d.id, text: d.text, vector: decodeVector(d.embedding) }));
      this.corpora.set(key, held);
      while (this.corpora.size > MAX_CORPORA) this.corpora.delete(this.corpora.keys().next().value as string);
    }
    return held;
  }

  async listMcpTools(): Promise<McpToolInfo[]> {
    throw new AppError("UNSUPPORTED", "MCP tools need the Python worker pool (DSPY_ADAPTER=python)", { layer: "validation" });
  }

  async health(): Promise<AdapterHealth> {
    return { ok: true, details: {} };
  }

  async close(): Promise<void> {}
}

/** What the worker's builder refuses (an unknown module type) is refused here the same way. */
function buildable(program: NormalizedProgram): NormalizedProgram {
  const issues = Object.entries(program.modules)
    .filter(([, module]) => !Object.hasOwn(MODULE_TYPES, module.type))
    .map(([name, module]) => ({ path: `definition.modules.${name}.type`, reason: `unknown module type '${module.type}' (this adapter builds ${Object.keys(MODULE_TYPES).join(", ")})` }));
  if (issues.length > 0) throw invalid("INVALID_DEFINITION", issues);
  return program;
}

/** The module types this adapter runs (one LM call each); the others need DSPy. */
function runnable(program: NormalizedProgram): NormalizedProgram {
  for (const module of Object.values(program.modules)) {
    if (module.type !== "Predict" && module.type !== "ChainOfThought") {
      throw new AppError("UNSUPPORTED", `the in-process adapter runs Predict and ChainOfThought modules; ${module.type} needs DSPy (DSPY_ADAPTER=python)`, { layer: "validation" });
    }
  }
  return program;
}

const MAX_EMBED_TEXTS = 512;
const MAX_CORPORA = 16;

function invalid(code: string, issues: IssueDetail[]): AppError {
  return new AppError(code, `${issues[0].path}: ${issues[0].reason}`, { layer: "validation", details: { issues } });
}

/** DSPy's dump_state() `signature` of a predictor, approximated: its instructions and one entry per field. */
function signatureState(module: ModuleSpec): Record<string, unknown> {
  const names = [...Object.keys(module.signature.inputs), ...(module.type === "ChainOfThought" ? ["reasoning"] : []), ...Object.keys(module.signature.outputs)];
  const prefix = (name: string) => `${name.charAt(0).toUpperCase()}${name.slice(1).replace(/_/g, " ")}:`;
  return { instructions: module.signature.instructions ?? "", fields: names.map((name) => ({ prefix: prefix(name), description: `\${${name}}` })) };
}

/** The demos compiled state gives a predictor (as user / assistant turns, before the real prompt). */
function demosOf(compiledState: unknown, predictor: string): Record<string, unknown>[] {
  if (!compiledState || typeof compiledState !== "object") return [];
  const entry = (compiledState as Record<string, { demos?: unknown }>)[predictor];
  return Array.isArray(entry?.demos) ? (entry.demos as Record<string, unknown>[]) : [];
}

/** `cursor.next`: the next answer of a list (one run, or a whole evaluation, shares one DummyLM). */
async function run(program: NormalizedProgram, inputs: Record<string, unknown>, answers: Answers, cursor: { next: number }, compiledState: unknown = null): Promise<ExecuteResult> {
  const trace: ModuleCallTrace[] = [];
  const call = async (name: string, step: string, callInputs: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const started = performance.now();
    const module = program.modules[name]!;
    const prompt = renderPrompt(module, callInputs);
    const answer = Array.isArray(answers) ? answers[cursor.next++] : Object.entries(answers).find(([key]) => prompt.includes(key))?.[1];
    if (answer === undefined) throw new AppError("LM_ERROR", "the dummy model has no answer for this prompt", { layer: "lm" });
    const outputs = parseOutputs(name, module, answer);
    const duration = performance.now() - started;
    trace.push({
      step,
      module: name,
      type: module.type,
      inputs: callInputs,
      outputs,
      duration_ms: duration,
      lm_calls: [{ model: "dummy", messages: [...demoMessages(module, demosOf(compiledState, predictorName(name, module))), { role: "user", content: prompt }], response: JSON.stringify(answer), usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }, latency_ms: duration }],
    });
    return outputs;
  };
  const outputs = await runSteps(program.forward, { input: inputs }, call, new RunBudget());
  if (!outputs) throw new AppError("DSPY_ERROR", "the program ended without a return step", { layer: "dspy" });
  return { outputs, trace, usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, lm_calls: trace.length } };
}

function demoMessages(module: ModuleSpec, demos: Record<string, unknown>[]): { role: string; content: string }[] {
  const show = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));
  return demos.flatMap((demo) => [
    { role: "user", content: Object.keys(module.signature.inputs).filter((f) => Object.hasOwn(demo, f)).map((f) => `${f}: ${show(demo[f])}`).join("\n") },
    { role: "assistant", content: Object.keys(module.signature.outputs).filter((f) => Object.hasOwn(demo, f)).map((f) => `${f}: ${show(demo[f])}`).join("\n") },
  ]);
}

function renderPrompt(module: ModuleSpec, inputs: Record<string, unknown>): string {
  const fields = Object.entries(inputs).map(([name, value]) => `${name}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
  return [module.signature.instructions ?? "", ...fields].join("\n");
}

/** Like DSPy's adapters: every output field must be present and parse into its type. */
function parseOutputs(moduleName: string, module: ModuleSpec, answer: Record<string, unknown>): Record<string, unknown> {
  const fields: [string, FieldType][] = Object.entries(module.signature.outputs).map(([name, spec]) => [name, spec.type]);
  if (module.type === "ChainOfThought") fields.unshift(["reasoning", "str"]);
  const outputs: Record<string, unknown> = {};
  for (const [name, type] of fields) {
    if (!Object.hasOwn(answer, name)) throw new AppError("DSPY_ERROR", `${moduleName}: the LM's answer has no field '${name}'`, { layer: "dspy" });
    const value = coerce(answer[name], type);
    const issues = checkValue(value, type, name);
    if (issues.length > 0) throw new AppError("DSPY_ERROR", `${moduleName}: ${issues[0].path}: ${issues[0].reason}`, { layer: "dspy" });
    outputs[name] = value;
  }
  return outputs;
}

function coerce(value: unknown, type: FieldType): unknown {
  if (typeof value !== "string" || type === "str") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function unreachable(model: string): AppError {
  return new AppError("LM_UNAVAILABLE", `the in-process adapter cannot reach '${model}'; it only runs the dummy model`, { layer: "lm", retriable: true });
}
