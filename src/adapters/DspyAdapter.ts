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
}

export interface ProgramSpec {
  versionId: string;
  definition: unknown;
  compiledState: unknown;
}

export interface ExecuteRequest {
  program: ProgramSpec;
  lm: LanguageModelSpec;
  inputs: Record<string, unknown>;
  deadlineMs?: number;
}

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
  health(): Promise<AdapterHealth>;
  close(): Promise<void>;
}
