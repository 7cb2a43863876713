import type { NormalizedProgram } from "../programs/definition/index.js";
/**
 * How the product runs DSPy programs. Implemented by the ZeroMQ Python adapter (real DSPy in a
 * worker pool) and by a deterministic in-process adapter for fast domain tests; both pass the
 * conformance suite in test/adapters/.
 */
export interface LanguageModelSpec {
  id: string;
  model: string;
  apiBase: string | null;
  temperature: number | null;
  maxTokens: number | null;
  cache: boolean;
  /** Name of the environment variable with the API key; read only when a request needs it. */
  secretEnv: string | null;
  /** The API key as stored (AES-256-GCM, src/secrets/SecretBox.ts); decrypted only by lmWireConfig. */
  apiKeyEncrypted?: string | null;
  /** Needed with `apiKeyEncrypted`: the stored key is bound to its row's tenant and id. */
  tenantId?: string;
  config: Record<string, unknown> | null;
  /** Its own limits (src/limits/LmRateLimiter.ts); absent or null: none. */
  requestsPerMinute?: number | null;
  tokensPerMinute?: number | null;
  name?: string;
}

/** A tool an MCP server lists: what a ReAct module shows the LM and checks arguments against. */
export interface McpToolInfo {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

export interface ProgramSpec {
  versionId: string;
  /** The normalized program (programOf(version)). */
  program: NormalizedProgram;
  compiledState: unknown;
}

/** A stored program another one calls (a ReAct tool, an lm_judge reward), with the LM it runs with. */
export interface ProgramDependency {
  program: ProgramSpec;
  lm: LanguageModelSpec;
}

/** An embedding model: `local/all-MiniLM-L6-v2` (runs in the worker, offline) or a litellm embedding model string. */
export const LOCAL_EMBEDDING_MODEL = "local/all-MiniLM-L6-v2";

/** One embedded document as a worker needs it (the vector as stored: base64 of little-endian float32). */
export interface CorpusDocumentVector {
  id: string;
  text: string;
  embedding: string;
}

/**
 * A corpus as the workers know it: `corpusId` + `hash` (changes whenever the corpus does), its model
 * (queries are embedded with it), and its embedded documents, loaded only when a worker lacks them.
 */
export interface CorpusSpec {
  corpusId: string;
  hash: string;
  model: string;
  /** Called only when a worker must be sent the corpus (first use, eviction, restart). */
  documents(): Promise<CorpusDocumentVector[]>;
}

export interface EmbedRequest {
  model: string;
  texts: string[];
  deadlineMs?: number;
}

export interface EmbedResult {
  /** One per text, in order: base64 of little-endian float32, L2-normalized. */
  vectors: string[];
  dims: number;
}

export interface SearchCorpusRequest {
  corpus: CorpusSpec;
  query: string;
  /** 1–100. */
  k: number;
  deadlineMs?: number;
}

/** One search hit: a document id, its text and its cosine similarity to the query (-1 … 1), best first. */
export interface CorpusHit {
  id: string;
  text: string;
  score: number;
}

export interface ExecuteRequest {
  program: ProgramSpec;
  lm: LanguageModelSpec;
  /** Corpora the program searches (Retrieve modules): sent to the worker before the run when it lacks them. */
  corpora?: CorpusSpec[];
  inputs: Record<string, unknown>;
  /** The programs it calls (loadDependencies). */
  dependencies?: ProgramDependency[];
  /** LM calls one run may make, nested runs included (MAX_LM_CALLS_PER_EXECUTION). */
  maxLmCalls?: number;
  deadlineMs?: number;
  /** Aborting stops the run before its next module or LM call; it then fails with CANCELLED. */
  signal?: AbortSignal;
  /**
   * Called with the run's output as it is written (README "Streaming outputs"); given, the run streams
   * its LM calls. Called synchronously and must not throw or block: the run does not wait for it.
   */
  onOutput?: (chunk: OutputChunk) => void;
}

/** What a streamed module call reports besides its text: start, end (with its outputs), tools, retrieval, a re-asked LM call. */
export type OutputStatusEvent = "module_start" | "module_end" | "tool_start" | "tool_end" | "retrieval_end" | "retry";

/**
 * One piece of a running program's output (bridge-py/PROTOCOL.md "Streaming"): a `delta` of one output
 * field's text as the LM writes it, or a `status` of a module call. `step` names the call as its trace
 * entry does, `module` is the definition's module name.
 */
export type OutputChunk =
  | { kind: "delta"; step: string; module: string; field: string; text: string }
  | { kind: "status"; event: OutputStatusEvent; step: string; module: string; message: string; outputs?: Record<string, unknown> };

export interface LmCallTrace {
  model: string;
  messages: unknown;
  response: unknown;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  latency_ms: number;
}

export interface ModuleCallTrace {
  step: string;
  module: string;
  type: string;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  duration_ms: number;
  lm_calls: LmCallTrace[];
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  lm_calls: number;
}

export interface ExecuteResult {
  outputs: Record<string, unknown>;
  trace: ModuleCallTrace[];
  usage: Usage;
  /** Which adapter ran it: "python" (DSPy in a worker), "native" (src/native, in Node) or "in-process". */
  adapter?: AdapterName;
}

export type AdapterName = "python" | "native" | "in-process";

export type MetricKind = "exact_match" | "normalized_exact_match" | "contains" | "token_f1" | "numeric" | "passage_match" | "lm_judge";

/** A declarative metric (bridge-py/dspy_bridge/metrics.py); validated by src/evaluations/metrics.ts first. */
export interface MetricSpec {
  kind: MetricKind;
  /** An output field of the program. */
  output: string;
  /** A label field every example has. */
  label: string;
  /** `numeric` only: |output − label| <= tolerance (default 0). */
  tolerance?: number;
  /** `lm_judge` only: a judge program run with its own LM; `score` names its bool/int/float output. */
  judge?: { program: NormalizedProgram; lm: LanguageModelSpec; score: string; inputs: Record<string, string> };
}

export interface EvaluationExample {
  inputs: Record<string, unknown>;
  labels: Record<string, unknown>;
}

export interface EvaluationProgress {
  phase: string;
  done: number;
  total: number | null;
}

export interface EvaluateRequest {
  program: ProgramSpec;
  lm: LanguageModelSpec;
  /** The programs it calls (loadDependencies). */
  dependencies?: ProgramDependency[];
  /** As `ExecuteRequest.corpora`. */
  corpora?: CorpusSpec[];
  examples: EvaluationExample[];
  metric: MetricSpec;
  /** dspy.Evaluate's threads, 1–32 (default 1). */
  numThreads?: number;
  deadlineMs?: number;
  onProgress?: (progress: EvaluationProgress) => void;
  /** Aborting stops the evaluation; it then fails with CANCELLED. */
  signal?: AbortSignal;
}

/** One example's outcome: an example whose program call or metric failed scores 0 and has `error`. */
export interface EvaluationExampleResult {
  inputs: Record<string, unknown>;
  labels: Record<string, unknown>;
  prediction: Record<string, unknown> | null;
  /** 0–1. */
  score: number;
  error: string | null;
}

/** The LM usage of an evaluation or a compile: in all, and per language model (by id). */
export interface RunUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  lmCalls: number;
  byLanguageModel: Record<string, { promptTokens: number; completionTokens: number; totalTokens: number; lmCalls: number }>;
}

export interface EvaluateResult {
  /** 0–100, as dspy.Evaluate reports it (mean per-example score × 100, 2 decimals). */
  score: number;
  results: EvaluationExampleResult[];
  /** Every LM call it made (the worker's report; absent from an adapter that does not count). */
  usage?: RunUsage;
}

export type OptimizerName = "LABELED_FEW_SHOT" | "BOOTSTRAP_FEW_SHOT" | "BOOTSTRAP_FEW_SHOT_WITH_RANDOM_SEARCH" | "COPRO" | "MIPRO_V2" | "SIMBA" | "GEPA";

/** The worker's `progress` during a `compile`: phase (`compile`, `evaluate`, `done`), metric calls, scored trials, best trial (0–100). */
export interface CompileProgress {
  phase: string;
  done: number;
  trials: number;
  bestScore: number | null;
  metricCalls: number;
  /** The LM usage so far. */
  usage?: RunUsage;
}

export interface CompileRequest {
  program: ProgramSpec;
  /** The programs it calls (loadDependencies). */
  dependencies?: ProgramDependency[];
  /** As `ExecuteRequest.corpora`. */
  corpora?: CorpusSpec[];
  /** The LM the program runs with (and COPRO / MIPROv2 / SIMBA propose instructions with). */
  lm: LanguageModelSpec;
  /** GEPA only (required there): the LM that reflects on failures. */
  reflectionLm?: LanguageModelSpec | null;
  optimizer: OptimizerName;
  /** Per-optimizer keys (bridge-py/PROTOCOL.md, src/optimizations/optimizerConfig.ts). */
  config: Record<string, unknown>;
  trainset: EvaluationExample[];
  devset?: EvaluationExample[] | null;
  metric: MetricSpec;
  seed?: number | null;
  deadlineMs?: number;
  onProgress?: (progress: CompileProgress) => void;
  /** Aborting stops the optimization; it then fails with CANCELLED. */
  signal?: AbortSignal;
}

export interface CompileResult {
  /** `module.dump_state()` of the optimized program: a valid `compiledState` of the same definition. */
  compiledState: Record<string, unknown>;
  /** Exactly what DSPy's `save("x.json")` writes (the state plus `metadata.dependency_versions`). */
  dspyState: Record<string, unknown>;
  /** 0–100: dspy.Evaluate of the compiled program on the devset (or the trainset without one). */
  score: number;
  scoredOn: "devset" | "trainset";
  trials: number;
  bestTrialScore: number | null;
  metricCalls: number;
  compileMs: number;
  usage?: RunUsage;
}

export interface ImportStateResult {
  compiledState: Record<string, unknown>;
  predictors: string[];
}

export interface AdapterHealth {
  ok: boolean;
  details: Record<string, unknown>;
}

export interface DspyAdapter {
  readonly name: string;
  /** Prepares an LM ahead of use (optional warm-up; `execute` configures on demand anyway). */
  configure(lm: LanguageModelSpec): Promise<void>;
  /** Runs one program version on inputs; failures are AppErrors with code, layer and retriable. */
  execute(request: ExecuteRequest): Promise<ExecuteResult>;
  /** dspy.Evaluate of one program version on examples with a declarative metric. */
  evaluate(request: EvaluateRequest): Promise<EvaluateResult>;
  /** Runs a DSPy optimizer (teleprompter) on a program version; the result is the optimized state. */
  compile(request: CompileRequest): Promise<CompileResult>;
  /** Checks a DSPy save() JSON against a definition (strict: INVALID_STATE with paths under `state`). */
  importState(program: NormalizedProgram, state: unknown): Promise<ImportStateResult>;
  /** Embeds texts with a corpus's model (at most 512 a call); vectors as base64 float32. */
  embed(request: EmbedRequest): Promise<EmbedResult>;
  /** Sends a corpus to a worker ahead of use (optional warm-up; runs and searches rehydrate on demand). */
  defineCorpus(corpus: CorpusSpec): Promise<void>;
  /** Top-k documents of a corpus for a query; the worker is sent the corpus first when it lacks it (UNKNOWN_CORPUS). */
  searchCorpus(request: SearchCorpusRequest): Promise<CorpusHit[]>;
  /** The tools an MCP server offers (the worker connects, under the egress policy), for a definition that names them. */
  listMcpTools(request: { url: string; headers: Record<string, string> }): Promise<McpToolInfo[]>;
  health(): Promise<AdapterHealth>;
  close(): Promise<void>;
}
