import { AppError } from "../errors.js";
import type { FieldType, ModuleSpec, NormalizedProgram } from "../programs/definition/index.js";
import { validateProgramInputs } from "../programs/validateProgramInputs.js";
import { predictorName } from "../adapters/importedState.js";
import { lmWireConfig } from "../adapters/lmWireConfig.js";
import { DEFAULT_POLICIES, type LanguageModelPolicies } from "../languageModels/policies.js";
import { EMPTY_KEYRING, type SecretKeyring } from "../secrets/SecretBox.js";
import { scrubError, scrubSecrets } from "../secrets/scrub.js";
import { SpanKind, withSpan } from "../observability/tracing.js";
import type {
  AdapterHealth,
  AdapterName,
  CompileRequest,
  CompileResult,
  CorpusHit,
  CorpusSpec,
  DspyAdapter,
  EmbedRequest,
  EmbedResult,
  EvaluateRequest,
  EvaluateResult,
  ExecuteRequest,
  ExecuteResult,
  ImportStateResult,
  LanguageModelSpec,
  LmCallTrace,
  McpToolInfo,
  ModuleCallTrace,
  OutputStatusEvent,
  SearchCorpusRequest,
} from "../adapters/DspyAdapter.js";
import { type AdapterKind, type AnswerParse, CUSTOM_TYPE_MARKER, type Demo, formatMessages, parseChat, parseJson } from "./chatAdapter.js";
import { ChatFieldStream } from "./chatStream.js";
import { type LmLimits, LmRateLimiter } from "../limits/LmRateLimiter.js";
import { RunBudget, runSteps } from "./forward.js";
import { DummyNativeLm, LmResponseCache, type NativeLm, OpenAiNativeLm } from "./nativeLm.js";
import { pyJsonRedump, toJsonable } from "./parseValue.js";
import { foldsAnswer, structuredOutputsFormat } from "./responseFormat.js";
import { type NativeSignature, type PredictorState, signatureOf } from "./signature.js";

/** What the native adapter asks the Python workers (bridge-py answers.py): the few things DSPy decides itself. */
export interface DspyOracle {
  parseAnswer(request: { adapter: AdapterKind; outputs: Record<string, { type: FieldType }>; completion: string }): Promise<{ ok: true; fields: Record<string, unknown> } | { ok: false; reason: string }>;
  lmCapabilities(model: string, apiBase: string | null): Promise<{ response_format: boolean; response_schema: boolean }>;
}

/** Which executions run in Node: `native` every one it can (the dummy model too), `auto` those on an OpenAI-compatible LM. */
export type NativeMode = "native" | "auto";

/** The `response_format` DSPy's JSONAdapter fallback sends: none, JSON mode, or the outputs' schema. */
type ResponseFormat = { kind: "none" } | { kind: "json_object" } | { kind: "structured" };

const DEFAULT_DEADLINE_MS = 120_000;
const REASONING_MODEL = /^(?:o[1345](?:-(?:mini|nano|pro))?(?:-\d{4}-\d{2}-\d{2})?|gpt-5(?:\.\d+)*(?!-chat)(?:-.*)?)$/;

/**
 * Runs Predict and ChainOfThought programs (with their forward steps) in Node, as DSPy 3.4.1 runs
 * them with its ChatAdapter: the same messages, the same parsing, the JSONAdapter fallback, the same
 * errors and trace. Whatever it does not run (other module types, non-OpenAI LMs, a JSON adapter
 * configured on the LM) goes to `python`, as do
 * evaluations, optimizations, state imports, embeddings and MCP listings. Each result says which ran it.
 */
export class NativeAdapter implements DspyAdapter {
  readonly name = "native";
  private readonly cache = new LmResponseCache();
  private readonly capabilities = new Map<string, Promise<{ response_format: boolean; response_schema: boolean }>>();
  private readonly signatures = new WeakMap<object, Map<string, { signature: NativeSignature; demos: Demo[] }>>();

  constructor(
    private readonly python: DspyAdapter & DspyOracle,
    private readonly mode: NativeMode,
    private readonly keyring: SecretKeyring = EMPTY_KEYRING,
    private readonly policies?: LanguageModelPolicies,
    /** Each language model's requests and tokens per minute (shared across instances with Redis). */
    private readonly limiter: LmRateLimiter = new LmRateLimiter(),
  ) {}

  /** Why `request` does not run natively, or null when it does. */
  refusal(request: ExecuteRequest): string | null {
    const { program } = request.program;
    const unsupported = Object.entries(program.modules).find(([, m]) => m.type !== "Predict" && m.type !== "ChainOfThought");
    if (unsupported) return `module '${unsupported[0]}' is a ${unsupported[1].type}`;
    const lm = request.lm;
    if (lm.model === "dummy") return this.mode === "native" ? null : "the dummy model runs on DSPy (DSPY_ADAPTER=native runs it here too)";
    if (!lm.model.startsWith("openai/")) return `'${lm.model}' is not an OpenAI-compatible model (openai/<name>)`;
    // DSPy sends OpenAI's reasoning models max_completion_tokens and checks their settings (lm.py `_is_openai_reasoning_model`).
    if (REASONING_MODEL.test(lm.model.split("/").pop()!.toLowerCase())) return `'${lm.model}' is a reasoning model, whose requests DSPy shapes itself`;
    const adapter = lm.config?.adapter;
    if (adapter !== undefined && adapter !== "chat") return `the language model uses DSPy's ${String(adapter)} adapter`;
    const state = request.program.compiledState as Record<string, PredictorState> | null;
    for (const [name, module] of Object.entries(program.modules)) {
      const saved = state?.[predictorName(name, module)];
      if (saved?.fields && typeof saved.fields === "object" && Object.keys(saved.fields).length > 0) return `predictor '${predictorName(name, module)}' has DSPy decision fields`;
    }
    return null;
  }

  async configure(lm: LanguageModelSpec): Promise<void> {
    if (lm.model !== "dummy" && lm.model.startsWith("openai/")) return;
    await this.python.configure(lm);
  }

  async execute(request: ExecuteRequest): Promise<ExecuteResult> {
    const adapter: AdapterName = this.refusal(request) === null ? "native" : "python";
    try {
      // Traced as the worker traces a run: `dspy.run`, a `dspy.module <step>` per module call, a `chat <model>` per LM call.
      const attributes = { "dspy.program.version_id": request.program.versionId, "gen_ai.request.model": request.lm.model, "dspy.adapter": "native" };
      const run = () => withSpan("dspy.run", { kind: SpanKind.INTERNAL, attributes }, async (span) => {
        const result = await this.executeHere(request);
        span?.setAttributes({ "gen_ai.usage.input_tokens": result.usage.prompt_tokens, "gen_ai.usage.output_tokens": result.usage.completion_tokens, "dspy.lm_calls": result.usage.lm_calls });
        return result;
      });
      return { ...(await (adapter === "native" ? run() : this.python.execute(request))), adapter };
    } catch (error) {
      // The execution records which adapter failed (ExecutionRunner).
      throw error instanceof AppError ? withDetails(error, { adapter }) : error;
    }
  }

  private async executeHere(request: ExecuteRequest): Promise<ExecuteResult> {
    const program = request.program.program;
    const issues = validateProgramInputs(program, request.inputs, "inputs");
    if (issues.length > 0) throw new AppError("INVALID_INPUTS", `${issues[0]!.path}: ${issues[0]!.reason}`, { layer: "validation", details: { issues } });
    // One signal for the caller's cancel and the deadline; aborting it aborts the LM request in flight.
    const controller = new AbortController();
    const deadlineMs = request.deadlineMs ?? DEFAULT_DEADLINE_MS;
    const timer = setTimeout(() => controller.abort(new AppError("DEADLINE_EXCEEDED", `no reply within ${deadlineMs} ms`, { layer: "worker", retriable: true })), deadlineMs);
    const onCancel = () => controller.abort(cancelled());
    request.signal?.addEventListener("abort", onCancel, { once: true });
    if (request.signal?.aborted) onCancel();
    const trace: ModuleCallTrace[] = [];
    // What comes back is scrubbed of the API key this run used, as the worker's replies are.
    let secrets: string[] = [];
    try {
      const { lm, apiKey } = this.lmFor(request.lm);
      if (apiKey && apiKey.length >= 4) secrets = [apiKey];
      const budget = new RunBudget(request.maxLmCalls);
      const deadlineAt = Date.now() + deadlineMs;
      const limited = this.limiter;
      // Every LM call of the run waits for the model's limits first, within the run's deadline; its tokens count once answered.
      const gated: NativeLm = {
        model: lm.model,
        settings: lm.settings,
        async call(lmRequest) {
          await limited.acquire(limitsOf(request.lm), deadlineAt, lmRequest.signal);
          const reply = await lm.call(lmRequest);
          limited.spend(limitsOf(request.lm), reply.usage.total_tokens);
          return reply;
        },
      };
      const call = (name: string, step: string, inputs: Record<string, unknown>) => this.callModule(request, gated, budget, controller.signal, trace, name, step, inputs);
      const outputs = await runSteps(program.forward, { input: request.inputs }, call, budget);
      if (!outputs) throw new AppError("DSPY_ERROR", "the program ended without a return step", { layer: "dspy" });
      return scrubSecrets({ outputs: toJsonable(outputs) as Record<string, unknown>, trace, usage: usageOf(trace) }, secrets);
    } catch (cause) {
      const error = controller.signal.aborted && controller.signal.reason instanceof AppError ? controller.signal.reason : cause;
      const failure = error instanceof AppError ? error : new AppError("DSPY_ERROR", `${(error as Error).name}: ${(error as Error).message}`, { layer: "dspy" });
      throw scrubError(withTrace(failure, trace), secrets);
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener("abort", onCancel);
    }
  }

  /** One Predict / ChainOfThought call: ChatAdapter, then JSONAdapter when the answer does not parse (DSPy's fallback). */
  private async callModule(
    request: ExecuteRequest,
    lm: NativeLm,
    budget: RunBudget,
    signal: AbortSignal,
    trace: ModuleCallTrace[],
    name: string,
    step: string,
    inputs: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    if (signal.aborted) throw signal.reason;
    const module = request.program.program.modules[name]!;
    const entry: ModuleCallTrace & { error?: string } = { step, module: name, type: module.type, inputs: toJsonable(inputs) as Record<string, unknown>, outputs: {}, duration_ms: 0, lm_calls: [] };
    trace.push(entry);
    const attributes = { "dspy.step": step, "dspy.module.name": name, "dspy.module.type": module.type };
    return withSpan(`dspy.module ${step}`, { kind: SpanKind.INTERNAL, attributes }, () => this.callModuleIn(request, lm, budget, signal, entry, name, inputs));
  }

  private async callModuleIn(request: ExecuteRequest, lm: NativeLm, budget: RunBudget, signal: AbortSignal, entry: ModuleCallTrace & { error?: string }, name: string, inputs: Record<string, unknown>): Promise<Record<string, unknown>> {
    const started = performance.now();
    const onOutput = request.onOutput;
    const status = (event: OutputStatusEvent, message: string, outputs?: Record<string, unknown>) =>
      onOutput?.({ kind: "status", event, step: entry.step, module: name, message, ...(outputs ? { outputs } : {}) });
    try {
      const { signature, demos } = this.prepared(request.program.program, request.program.compiledState, name);
      status("module_start", `${name} (${entry.type}) started`);
      // The str outputs stream, as on the workers (other types' values come with module_end). `config.stream:
      // false`: the model's answers come whole (a server that reports no usage when it streams).
      const stream = !onOutput || request.lm.config?.stream === false ? undefined : new ChatFieldStream(new Set(signature.outputs.filter((f) => f.type === "str").map((f) => f.name)), (field, text) => onOutput({ kind: "delta", step: entry.step, module: name, field, text }));
      let parsed = await this.ask(lm, budget, signal, entry, "chat", signature, demos, inputs, { kind: "none" }, stream);
      if (!parsed.ok) {
        // DSPy's fallback asks again for JSON: what was streamed of the first answer does not stand.
        status("retry", `${name}: the answer did not fit the chat format; asking again for JSON`);
        const format = await this.responseFormat(request.lm, signature);
        parsed = await this.ask(lm, budget, signal, entry, "json", signature, demos, inputs, format);
      }
      if (!parsed.ok) throw new AppError("DSPY_ERROR", `the LM's answer did not parse into the signature: ${parsed.reason.slice(0, 500)}`, { layer: "dspy", details: { exception: "AdapterParseError" } });
      entry.outputs = toJsonable(parsed.fields) as Record<string, unknown>;
      status("module_end", `${name} (${entry.type}) finished`, entry.outputs);
      return parsed.fields;
    } catch (error) {
      entry.error = error instanceof AppError ? `${error.code}: ${error.message}`.slice(0, 1000) : String(error).slice(0, 1000);
      throw error;
    } finally {
      entry.duration_ms = round3(performance.now() - started);
    }
  }

  /** One LM call with one adapter's messages, recorded in the module's trace entry, and its answer parsed. */
  private async ask(
    lm: NativeLm,
    budget: RunBudget,
    signal: AbortSignal,
    entry: ModuleCallTrace,
    kind: AdapterKind,
    signature: NativeSignature,
    demos: Demo[],
    inputs: Record<string, unknown>,
    format: ResponseFormat,
    stream?: ChatFieldStream,
  ): Promise<{ ok: true; fields: Record<string, unknown> } | { ok: false; reason: string }> {
    if (signal.aborted) throw signal.reason;
    budget.lmCall();
    const messages = formatMessages(kind, signature, demos, inputs);
    if (messages.some((m) => m.role === "user" && m.content.includes(CUSTOM_TYPE_MARKER))) {
      throw new AppError("UNSUPPORTED", "an input holds DSPy's custom-type marker text; run this program with DSPY_ADAPTER=python", { layer: "validation" });
    }
    const call: LmCallTrace & { error?: string } = { model: lm.model, messages, response: null, usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }, latency_ms: 0 };
    entry.lm_calls.push(call);
    const started = performance.now();
    let text: string;
    try {
      const responseFormat = format.kind === "json_object" ? { type: "json_object" } : format.kind === "structured" ? structuredOutputsFormat(signature) : undefined;
      const reply = await withSpan(`chat ${lm.model}`, { kind: SpanKind.CLIENT, attributes: lmSpanAttributes(lm.model, lm.settings) }, async (span) => {
        const answered = await lm.call({ messages, signal, ...(responseFormat ? { responseFormat } : {}), ...(stream ? { onText: (text: string) => stream.push(text) } : {}) });
        stream?.finish();
        span?.setAttributes({ "gen_ai.usage.input_tokens": answered.usage.prompt_tokens, "gen_ai.usage.output_tokens": answered.usage.completion_tokens });
        return answered;
      });
      // DSPy's LM client reads some structured answers as data and hands the adapter their json.dumps.
      text = responseFormat && format.kind === "structured" && foldsAnswer(responseFormat) ? (pyJsonRedump(reply.text) ?? reply.text) : reply.text;
      call.response = text;
      call.usage = reply.usage;
    } catch (error) {
      call.error = error instanceof AppError ? `${error.code}: ${error.message}`.slice(0, 1000) : String(error).slice(0, 1000);
      throw signal.aborted ? signal.reason : error;
    } finally {
      call.latency_ms = round3(performance.now() - started);
    }
    const parsed: AnswerParse = kind === "chat" ? parseChat(signature, text) : parseJson(signature, text);
    if (parsed.ok !== "unsure") return parsed;
    // json_repair's territory: DSPy's own parse decides.
    const outputs = Object.fromEntries(signature.outputs.map((f) => [f.name, { type: f.type }]));
    return this.python.parseAnswer({ adapter: kind, outputs, completion: text });
  }

  /** A module's signature and demos as its predictor's compiled state leaves them (computed once per version). */
  private prepared(program: NormalizedProgram, compiledState: unknown, name: string): { signature: NativeSignature; demos: Demo[] } {
    const key = (compiledState !== null && typeof compiledState === "object" ? compiledState : program) as object;
    let byModule = this.signatures.get(key);
    if (!byModule) this.signatures.set(key, (byModule = new Map()));
    let prepared = byModule.get(name);
    if (!prepared) {
      const module: ModuleSpec = program.modules[name]!;
      const state = (compiledState as Record<string, PredictorState> | null)?.[predictorName(name, module)];
      const demos = Array.isArray(state?.demos) ? (state.demos.filter((d) => d !== null && typeof d === "object" && !Array.isArray(d)) as Demo[]) : [];
      prepared = { signature: signatureOf(module, state), demos };
      byModule.set(name, prepared);
    }
    return prepared;
  }

  /** The run's LM, from the settings (and the key, read now) the worker would be sent (lmWireConfig). */
  private lmFor(spec: LanguageModelSpec): { lm: NativeLm; apiKey?: string } {
    const config = lmWireConfig(spec, process.env, this.keyring, this.policies ?? DEFAULT_POLICIES);
    if (spec.model === "dummy") {
      const answers = config.answers;
      const valid = Array.isArray(answers) ? answers.every(isObject) : isObject(answers) && Object.values(answers).every(isObject);
      if (!valid) throw new AppError("BAD_MESSAGE", "the dummy model needs config.answers: a list of objects, or an object mapping a substring of the prompt to an object", { layer: "protocol", details: { path: "config.answers" } });
      return { lm: new DummyNativeLm(answers) };
    }
    const lm = new OpenAiNativeLm(config, this.cache, (this.policies ?? DEFAULT_POLICIES).egress);
    return { lm, apiKey: lm.apiKey };
  }

  /** What DSPy's JSONAdapter (`_prepare_response_format`) sends this LM for this signature. */
  private async responseFormat(lm: LanguageModelSpec, signature: NativeSignature): Promise<ResponseFormat> {
    if (lm.model === "dummy") return { kind: "none" };
    const key = `${lm.model}\n${lm.apiBase ?? ""}`;
    let known = this.capabilities.get(key);
    if (!known) {
      known = this.python.lmCapabilities(lm.model, lm.apiBase);
      this.capabilities.set(key, known);
      known.catch(() => this.capabilities.delete(key));
    }
    const capabilities = await known;
    if (!capabilities.response_format) return { kind: "none" };
    if (!capabilities.response_schema || signature.outputs.some((f) => f.type === "dict")) return { kind: "json_object" };
    return { kind: "structured" };
  }

  evaluate(request: EvaluateRequest): Promise<EvaluateResult> {
    return this.python.evaluate(request);
  }

  compile(request: CompileRequest): Promise<CompileResult> {
    return this.python.compile(request);
  }

  importState(program: NormalizedProgram, state: unknown): Promise<ImportStateResult> {
    return this.python.importState(program, state);
  }

  embed(request: EmbedRequest): Promise<EmbedResult> {
    return this.python.embed(request);
  }

  defineCorpus(corpus: CorpusSpec): Promise<void> {
    return this.python.defineCorpus(corpus);
  }

  searchCorpus(request: SearchCorpusRequest): Promise<CorpusHit[]> {
    return this.python.searchCorpus(request);
  }

  listMcpTools(request: { url: string; headers: Record<string, string> }): Promise<McpToolInfo[]> {
    return this.python.listMcpTools(request);
  }

  async health(): Promise<AdapterHealth> {
    const python = await this.python.health();
    return { ok: python.ok, details: { ...python.details, native: { mode: this.mode } } };
  }

  close(): Promise<void> {
    return this.python.close();
  }
}

/** The GenAI attributes the worker puts on an LM call's span (bridge-py otel.py). */
function lmSpanAttributes(model: string, settings: { temperature?: number; max_tokens?: number }): Record<string, string | number> {
  const provider = model.includes("/") ? model.split("/")[0]! : "openai";
  const attributes: Record<string, string | number> = { "gen_ai.operation.name": "chat", "gen_ai.system": provider, "gen_ai.provider.name": provider, "gen_ai.request.model": model };
  if (settings.temperature !== undefined) attributes["gen_ai.request.temperature"] = settings.temperature;
  if (settings.max_tokens !== undefined) attributes["gen_ai.request.max_tokens"] = settings.max_tokens;
  return attributes;
}

function limitsOf(lm: LanguageModelSpec): LmLimits {
  return { id: lm.id, name: lm.name, requestsPerMinute: lm.requestsPerMinute ?? null, tokensPerMinute: lm.tokensPerMinute ?? null };
}

function cancelled(): AppError {
  return new AppError("CANCELLED", "the execution was cancelled", { layer: "worker" });
}

/** As the worker does: the trace so far goes with a failed run's error. */
function withTrace(error: AppError, trace: ModuleCallTrace[]): AppError {
  return error.details?.trace !== undefined ? error : withDetails(error, { trace });
}

function withDetails(error: AppError, details: Record<string, unknown>): AppError {
  return new AppError(error.code, error.message, { layer: error.layer, retriable: error.retriable, path: error.path, issues: error.issues, extensions: error.extensions, details: { ...error.details, ...details } });
}

function usageOf(trace: ModuleCallTrace[]): ExecuteResult["usage"] {
  const usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, lm_calls: 0 };
  for (const entry of trace) {
    for (const call of entry.lm_calls) {
      usage.lm_calls += 1;
      usage.prompt_tokens += call.usage.prompt_tokens;
      usage.completion_tokens += call.usage.completion_tokens;
      usage.total_tokens += call.usage.total_tokens;
    }
  }
  return usage;
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
