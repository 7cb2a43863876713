import type { FieldType, NormalizedProgram } from "../programs/definition/index.js";
import { inputsJsonSchema } from "../programs/validateProgramInputs.js";
import { AppError } from "../errors.js";
import { EMPTY_KEYRING, type SecretKeyring } from "../secrets/SecretBox.js";
import type { RequestOptions, WorkerLease, WorkerPool } from "../workers/WorkerPool.js";
import { type LmLimits, LmRateLimiter } from "../limits/LmRateLimiter.js";
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
  EvaluateRequest,
  EvaluateResult,
  ExecuteRequest,
  OutputChunk,
  OutputStatusEvent,
  RunUsage,
  ExecuteResult,
  ImportStateResult,
  LanguageModelSpec,
  McpToolInfo,
  MetricSpec,
  ProgramDependency,
  ProgramSpec,
} from "./DspyAdapter.js";
import type { LanguageModelPolicies } from "../languageModels/policies.js";
import { scrubError, scrubSecrets } from "../secrets/scrub.js";
import { type LmWireConfig, lmKey, lmWireConfig, programHash } from "./lmWireConfig.js";
import { headerSecrets, toolSecrets } from "./toolSecrets.js";
import { DEFAULT_POLICIES } from "../languageModels/policies.js";
import { corpusKey, embeddingModelWire, sendCorpus } from "./corpusWire.js";
import { type Span, SpanKind, currentTraceparent, withSpan } from "../observability/tracing.js";

const DEFAULT_DEADLINE_MS = 120_000;

/** See ZmqPythonAdapter.runContext. */
interface RunContext {
  programs: ProgramSpec[];
  /** The LMs of the programs it calls. */
  lms: WireLm[];
  corpora: CorpusSpec[];
  secretValues: string[];
  /** Its part of the request's payload: `dependencies`, `secrets`, `corpora` (the worker checks it holds each). */
  payload: { dependencies: { version_id: string; hash: string; lm_key: string }[]; secrets: Record<string, string>; corpora: { corpus_key: string; hash: string }[] };
}

interface WireLm {
  key: string;
  config: LmWireConfig;
  /** Its requests and tokens per minute, granted call by call (`acquire`) when it has any. */
  limits: LmLimits;
}

/**
 * Real DSPy through the worker pool. Each execution holds one worker; a worker that does not know
 * the program version or the LM (new, or restarted) is sent them first: rehydration.
 */
export class ZmqPythonAdapter implements DspyAdapter {
  readonly name = "zmq-python";

  /** `keyring` decrypts stored API keys, one request at a time; `policies` bound what a model may read and reach (lmWireConfig). */
  constructor(
    private readonly pool: WorkerPool,
    private readonly keyring: SecretKeyring = EMPTY_KEYRING,
    private readonly policies?: LanguageModelPolicies,
    /** Per-LM requests and tokens per minute: the worker asks before each call of a limited model (`acquire`). */
    private readonly limiter: LmRateLimiter = new LmRateLimiter(),
  ) {}

  /**
   * The `limited_lms` of a request's payload and the handlers of its `acquire` / `spent` messages:
   * nothing when none of its LMs has limits (the worker then asks nothing).
   */
  private limitGate(lms: WireLm[], deadlineMs: number | undefined, signal?: AbortSignal): { payload: { limited_lms?: string[] }; options: Pick<RequestOptions, "onAcquire" | "onSpent"> } {
    const limited = new Map(lms.filter((lm) => lm.limits.requestsPerMinute !== null || lm.limits.tokensPerMinute !== null).map((lm) => [lm.key, lm.limits]));
    if (limited.size === 0) return { payload: {}, options: {} };
    const deadlineAt = Date.now() + (deadlineMs ?? DEFAULT_DEADLINE_MS);
    return {
      payload: { limited_lms: [...limited.keys()] },
      options: {
        onAcquire: async ({ lm_key }) => {
          const limits = limited.get(lm_key);
          if (limits) await this.limiter.acquire(limits, deadlineAt, signal);
        },
        onSpent: ({ lm_key, tokens }) => {
          const limits = limited.get(lm_key);
          if (limits && typeof tokens === "number") this.limiter.spend(limits, tokens);
        },
      },
    };
  }

  async configure(spec: LanguageModelSpec): Promise<void> {
    const lm = this.wireLm(spec);
    await this.pool.withWorker(DEFAULT_DEADLINE_MS, async (lease) => {
      await lease.request("configure_lm", { lm_key: lm.key, config: lm.config });
      lease.remember(lm.key);
    });
  }

  async execute(request: ExecuteRequest): Promise<ExecuteResult> {
    // The pool's span: waiting for a worker, rehydrating it, and the `run`, whose worker-side span is its child.
    const attributes = { "dspy.worker.command": "run", "dspy.program.version_id": request.program.versionId, "gen_ai.request.model": request.lm.model };
    return withSpan("worker-pool run", { kind: SpanKind.CLIENT, attributes }, (span) => this.executeOnPool(request, span));
  }

  private async executeOnPool(request: ExecuteRequest, span: Span | undefined): Promise<ExecuteResult> {
    const lm = this.wireLm(request.lm);
    const signal = request.signal;
    const traceparent = currentTraceparent();
    // `config.stream: false`: this model's calls are not streamed (a server that reports no usage when it streams).
    const onOutput = request.lm.config?.stream === false ? undefined : request.onOutput;
    const context = this.runContext(request);
    const gate = this.limitGate([lm, ...context.lms], request.deadlineMs, signal);
    // Only a run that can be cancelled (or is traced, streamed or limited) pays for request options.
    const options =
      signal || traceparent || onOutput || gate.payload.limited_lms
        ? { signal, traceparent, onStream: onOutput ? (payload: Record<string, unknown>) => forwardChunk(payload, onOutput) : undefined, ...gate.options }
        : undefined;
    const limits = { ...(request.maxLmCalls ? { max_lm_calls: request.maxLmCalls } : {}), ...(onOutput ? { stream: true } : {}), ...gate.payload };
    return this.onRehydratedWorker(request.deadlineMs, context, [lm], (lease, hash) => {
      if (signal?.aborted) throw new AppError("CANCELLED", "the execution was cancelled before it started", { layer: "worker" });
      span?.setAttribute("dspy.worker.id", lease.workerId);
      return lease.request<ExecuteResult>("run", { version_id: request.program.versionId, hash, lm_key: lm.key, inputs: request.inputs, ...context.payload, ...limits }, options);
    }).then((result) => ({ ...result, adapter: "python" as const }));
  }

  /**
   * `evaluate` on one worker: the program and LM (and a judge's LM) rehydrated as for `run`, the
   * worker's `progress` messages passed to `onProgress`, and `signal` turned into the worker's `cancel`.
   */
  async evaluate(request: EvaluateRequest): Promise<EvaluateResult> {
    const lm = this.wireLm(request.lm);
    const judge = request.metric.judge ? this.wireLm(request.metric.judge.lm) : null;
    const metric = this.wireMetric(request.metric, judge);
    const onProgress = request.onProgress;
    const context = this.runContext(request);
    const own = judge ? [lm, judge] : [lm];
    const gate = this.limitGate([...own, ...context.lms], request.deadlineMs, request.signal);
    const options = {
      signal: request.signal,
      onProgress: onProgress ? (p: { phase: string; done: number; total: number | null }) => onProgress({ phase: p.phase, done: p.done, total: p.total }) : undefined,
      ...gate.options,
    };
    const result = await this.onRehydratedWorker(request.deadlineMs, context, own, (lease, hash) => {
      // Aborted before it was sent: a fast evaluation could finish before the worker reads a `cancel`.
      if (request.signal?.aborted) throw new AppError("CANCELLED", "the evaluation was cancelled before it started", { layer: "worker" });
      const payload = {
        ...context.payload,
        version_id: request.program.versionId,
        hash,
        lm_key: lm.key,
        examples: request.examples,
        metric,
        ...(request.numThreads != null ? { num_threads: request.numThreads } : {}),
        ...gate.payload,
      };
      return lease.request<EvaluateResult>("evaluate", payload, options);
    });
    const usage = usageOf((result as { usage?: unknown }).usage, [...own, ...context.lms]);
    return { score: result.score, results: result.results, ...(usage ? { usage } : {}) };
  }

  /**
   * `compile` on one worker, as `evaluate`: the program, its LM (and GEPA's reflection LM, and a
   * judge's) rehydrated first, `progress` passed to `onProgress`, `signal` sent as `cancel`.
   */
  async compile(request: CompileRequest): Promise<CompileResult> {
    const lm = this.wireLm(request.lm);
    const reflection = request.reflectionLm ? this.wireLm(request.reflectionLm) : null;
    const judge = request.metric.judge ? this.wireLm(request.metric.judge.lm) : null;
    const metric = this.wireMetric(request.metric, judge);
    const onProgress = request.onProgress;
    // Every LM of the compile, by the key the worker reports usage under.
    let everyLm: WireLm[] = [];
    const options = {
      signal: request.signal,
      onProgress: onProgress
        ? (p: { phase: string; done: number; trials?: number; best_score?: number | null; metric_calls?: number; usage?: unknown }) => {
            const usage = usageOf(p.usage, everyLm);
            onProgress({ phase: p.phase, done: p.done, trials: p.trials ?? 0, bestScore: p.best_score ?? null, metricCalls: p.metric_calls ?? p.done, ...(usage ? { usage } : {}) });
          }
        : undefined,
    };
    interface Wire {
      compiled_state: Record<string, unknown>;
      dspy_state: Record<string, unknown>;
      score: number;
      scored_on: "devset" | "trainset";
      trials: number;
      best_trial_score: number | null;
      metric_calls: number;
      compile_ms: number;
    }
    const lms = [lm, reflection, judge].filter((entry): entry is WireLm => entry !== null);
    const context = this.runContext(request);
    everyLm = [...lms, ...context.lms];
    const gate = this.limitGate(everyLm, request.deadlineMs, request.signal);
    Object.assign(options, gate.options);
    const result = await this.onRehydratedWorker(request.deadlineMs, context, lms, (lease, hash) => {
      if (request.signal?.aborted) throw new AppError("CANCELLED", "the optimization was cancelled before it started", { layer: "worker" });
      const payload = {
        ...context.payload,
        version_id: request.program.versionId,
        hash,
        lm_key: lm.key,
        optimizer: request.optimizer,
        config: request.config,
        trainset: request.trainset,
        ...(request.devset && request.devset.length > 0 ? { devset: request.devset } : {}),
        metric,
        ...(reflection ? { reflection_lm_key: reflection.key } : {}),
        ...(request.seed != null ? { seed: request.seed } : {}),
        ...gate.payload,
      };
      return lease.request<Wire>("compile", payload, options);
    });
    const compiledUsage = usageOf((result as { usage?: unknown }).usage, everyLm);
    return {
      compiledState: result.compiled_state,
      dspyState: result.dspy_state,
      score: result.score,
      scoredOn: result.scored_on,
      trials: result.trials,
      bestTrialScore: result.best_trial_score,
      metricCalls: result.metric_calls,
      compileMs: result.compile_ms,
      ...(compiledUsage ? { usage: compiledUsage } : {}),
    };
  }

  /** An LM as the worker knows it: its key and its `configure_lm` config (the API key decrypted here). */
  private wireLm(spec: LanguageModelSpec): WireLm {
    const config = lmWireConfig(spec, process.env, this.keyring, this.policies);
    return { key: lmKey(spec, config), config, limits: { id: spec.id, name: spec.name, requestsPerMinute: spec.requestsPerMinute ?? null, tokensPerMinute: spec.tokensPerMinute ?? null } };
  }

  /**
   * What a run, an evaluation or a compile needs besides its own LMs: its program and the programs it
   * calls (sent, with their LMs, before it; named in its payload by version, hash and LM key), the
   * corpora it searches, and the secrets its tools' headers name.
   */
  private runContext(request: { program: ProgramSpec; dependencies?: ProgramDependency[]; corpora?: CorpusSpec[] }): RunContext {
    const wired = (request.dependencies ?? []).map((d) => ({ program: d.program, lm: this.wireLm(d.lm) }));
    const programs = [request.program, ...wired.map((d) => d.program)];
    const secrets = toolSecrets(programs.map((p) => p.program), process.env, this.policies);
    return {
      programs,
      lms: wired.map((d) => d.lm),
      corpora: request.corpora ?? [],
      secretValues: Object.values(secrets),
      payload: {
        dependencies: wired.map((d) => ({ version_id: d.program.versionId, hash: programHash(d.program.program, d.program.compiledState), lm_key: d.lm.key })),
        secrets,
        corpora: (request.corpora ?? []).map((c) => ({ corpus_key: c.corpusId, hash: c.hash })),
      },
    };
  }

  /** The metric on the wire: a judge names its LM by the key the worker holds it under. */
  private wireMetric(metric: MetricSpec, judge: WireLm | null): Record<string, unknown> {
    const { judge: spec, ...rest } = metric;
    return spec && judge ? { ...rest, judge: { program: spec.program, lm_key: judge.key, score: spec.score, inputs: spec.inputs } } : rest;
  }

  /**
   * Runs `call` holding one worker, after sending it whatever of the program and `lms` it does not
   * hold yet (rehydration). If the worker forgot one of them since (evicted, or restarted between our
   * bookkeeping and the call), they are sent again and `call` runs once more.
   */
  private onRehydratedWorker<T>(deadlineMs: number | undefined, context: RunContext, ownLms: WireLm[], call: (lease: WorkerLease, hash: string) => Promise<T>): Promise<T> {
    const { corpora } = context;
    const lms = [...ownLms, ...context.lms];
    // The first program is the one run; the others are programs it calls (sent the same way).
    const programs = context.programs.map((program) => {
      const hash = programHash(program.program, program.compiledState);
      return { program, hash, key: `program:${program.versionId}:${hash}` };
    });
    const hash = programs[0]!.hash;
    const ensure = async (lease: WorkerLease) => {
      for (const lm of lms) {
        if (lease.knows(lm.key)) continue;
        await lease.request("configure_lm", { lm_key: lm.key, config: lm.config });
        lease.remember(lm.key);
      }
      for (const { program, hash: programHashed, key } of programs) {
        if (lease.knows(key)) continue;
        await lease.request("define_program", { version_id: program.versionId, hash: programHashed, program: program.program, inputs_schema: inputsJsonSchema(program.program), compiled_state: program.compiledState ?? null });
        lease.remember(key);
      }
      for (const corpus of corpora) await this.ensureCorpus(lease, corpus);
    };
    // What comes back is scrubbed of the API keys this request carried, whatever the worker did.
    const secrets = [...lms.flatMap((lm) => (lm.config.api_key ? [lm.config.api_key] : [])), ...context.secretValues].filter((s) => s.length >= 4);
    return this.pool
      .withWorker(deadlineMs ?? DEFAULT_DEADLINE_MS, async (lease) => {
        await ensure(lease);
        try {
          return await call(lease, hash);
        } catch (error) {
          if (!(error instanceof AppError) || (error.code !== "UNKNOWN_PROGRAM" && error.code !== "UNKNOWN_LM" && error.code !== "UNKNOWN_CORPUS")) throw error;
          if (error.code === "UNKNOWN_PROGRAM") for (const { key } of programs) lease.forget(key);
          else if (error.code === "UNKNOWN_CORPUS") for (const corpus of corpora) lease.forget(corpusKey(corpus));
          else for (const lm of lms) lease.forget(lm.key);
          await ensure(lease);
          return call(lease, hash);
        }
      })
      .then(
        (result) => scrubSecrets(result, secrets),
        (error: unknown) => {
          throw scrubError(error, secrets);
        },
      );
  }

  /** Sends `corpus` to this worker unless it holds it already (in parts when large: corpusWire.ts). */
  private async ensureCorpus(lease: WorkerLease, corpus: CorpusSpec): Promise<void> {
    const key = corpusKey(corpus);
    if (lease.knows(key)) return;
    await sendCorpus(lease, corpus, this.embeddingPolicies());
    lease.remember(key);
  }

  private embeddingPolicies() {
    return this.policies ?? DEFAULT_POLICIES;
  }

  async embed(request: EmbedRequest): Promise<EmbedResult> {
    const payload = { model: embeddingModelWire(request.model, this.embeddingPolicies()), texts: request.texts, encoding: "base64" };
    return this.pool.withWorker(request.deadlineMs ?? DEFAULT_DEADLINE_MS, (lease) => lease.request<EmbedResult>("embed", payload));
  }

  async defineCorpus(corpus: CorpusSpec): Promise<void> {
    await this.pool.withWorker(DEFAULT_DEADLINE_MS, (lease) => this.ensureCorpus(lease, corpus));
  }

  /** `search` on one worker; a worker that lacks the corpus (UNKNOWN_CORPUS) is sent it and asked once more. */
  async searchCorpus(request: SearchCorpusRequest): Promise<CorpusHit[]> {
    const { corpus } = request;
    const payload = { corpus_key: corpus.corpusId, hash: corpus.hash, query: request.query, k: request.k };
    return this.pool.withWorker(request.deadlineMs ?? DEFAULT_DEADLINE_MS, async (lease) => {
      await this.ensureCorpus(lease, corpus);
      try {
        return (await lease.request<{ results: CorpusHit[] }>("search", payload)).results;
      } catch (error) {
        if (!(error instanceof AppError) || error.code !== "UNKNOWN_CORPUS") throw error;
        lease.forget(corpusKey(corpus));
        await this.ensureCorpus(lease, corpus);
        return (await lease.request<{ results: CorpusHit[] }>("search", payload)).results;
      }
    });
  }

  async importState(program: NormalizedProgram, state: unknown): Promise<ImportStateResult> {
    const result = await this.pool.request<{ compiled_state: Record<string, unknown>; predictors: string[] }>("import_state", { program, state }, DEFAULT_DEADLINE_MS);
    return { compiledState: result.compiled_state, predictors: result.predictors };
  }

  async listMcpTools(request: { url: string; headers: Record<string, string> }): Promise<McpToolInfo[]> {
    const secrets = headerSecrets(request.headers, process.env, this.policies);
    const egress = (this.policies ?? DEFAULT_POLICIES).egress;
    const payload = { url: request.url, headers: request.headers, secrets, egress_allow: [...egress.allow] };
    const values = Object.values(secrets).filter((s) => s.length >= 4);
    try {
      const result = await this.pool.request<{ tools: { name: string; description: string; input_schema: Record<string, unknown> }[] }>("list_mcp_tools", payload, DEFAULT_DEADLINE_MS);
      return scrubSecrets(result.tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t.input_schema })), values);
    } catch (error) {
      throw scrubError(error, values);
    }
  }

  /** DSPy's own `parse` of an answer the native adapter could not parse with certainty (bridge-py answers.py). */
  async parseAnswer(request: { adapter: "chat" | "json"; outputs: Record<string, { type: FieldType }>; completion: string }): Promise<{ ok: true; fields: Record<string, unknown> } | { ok: false; reason: string }> {
    return this.pool.request("parse_answer", request, DEFAULT_DEADLINE_MS);
  }

  /** What DSPy's JSONAdapter reads to choose the `response_format` it sends a model (bridge-py answers.py). */
  async lmCapabilities(model: string, apiBase: string | null): Promise<{ response_format: boolean; response_schema: boolean }> {
    return this.pool.request("lm_capabilities", { model, ...(apiBase ? { api_base: apiBase } : {}) }, DEFAULT_DEADLINE_MS);
  }

  async health(): Promise<AdapterHealth> {
    const workers = this.pool.info();
    const ready = workers.filter((w) => w.ready).length;
    let pingMs: number | null = null;
    if (ready > 0) {
      const started = performance.now();
      await this.pool.request("ping", {}, 5_000);
      pingMs = performance.now() - started;
    }
    return { ok: ready > 0, details: { workers, ready, queued: this.pool.queued, pingMs } };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

const STATUS_EVENTS: ReadonlySet<string> = new Set<OutputStatusEvent>(["module_start", "module_end", "tool_start", "tool_end", "retrieval_end", "retry"]);

/** A worker's `stream` payload as an OutputChunk; anything not of that shape is dropped (the reply stays the truth). */
function forwardChunk(p: Record<string, unknown>, onOutput: (chunk: OutputChunk) => void): void {
  if (typeof p.step !== "string" || typeof p.module !== "string") return;
  if (p.kind === "delta" && typeof p.field === "string" && typeof p.text === "string") {
    onOutput({ kind: "delta", step: p.step, module: p.module, field: p.field, text: p.text });
  } else if (p.kind === "status" && typeof p.event === "string" && STATUS_EVENTS.has(p.event) && typeof p.message === "string") {
    const outputs = p.outputs !== null && typeof p.outputs === "object" && !Array.isArray(p.outputs) ? { outputs: p.outputs as Record<string, unknown> } : {};
    onOutput({ kind: "status", event: p.event as OutputStatusEvent, step: p.step, module: p.module, message: p.message, ...outputs });
  }
}

/** A worker's `usage` report (PROTOCOL.md) with its LMs named by id instead of key; undefined when there is none. */
function usageOf(wire: unknown, lms: WireLm[]): RunUsage | undefined {
  if (wire === null || typeof wire !== "object") return undefined;
  const w = wire as Record<string, unknown>;
  const n = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0);
  const ids = new Map(lms.map((lm) => [lm.key, lm.limits.id]));
  const byLanguageModel: RunUsage["byLanguageModel"] = {};
  for (const [key, entry] of Object.entries((w.by_lm ?? {}) as Record<string, Record<string, unknown>>)) {
    const id = ids.get(key);
    if (!id || entry === null || typeof entry !== "object") continue;
    const before = byLanguageModel[id] ?? { promptTokens: 0, completionTokens: 0, totalTokens: 0, lmCalls: 0 };
    byLanguageModel[id] = {
      promptTokens: before.promptTokens + n(entry.prompt_tokens),
      completionTokens: before.completionTokens + n(entry.completion_tokens),
      totalTokens: before.totalTokens + n(entry.total_tokens),
      lmCalls: before.lmCalls + n(entry.lm_calls),
    };
  }
  return { promptTokens: n(w.prompt_tokens), completionTokens: n(w.completion_tokens), totalTokens: n(w.total_tokens), lmCalls: n(w.lm_calls), byLanguageModel };
}
