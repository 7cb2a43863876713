import { AppError } from "../errors.js";
import { IssueList, describe } from "../validation.js";
import type { LanguageModelPolicies } from "./policies.js";

export interface LanguageModelFields {
  name?: string;
  model?: string;
  apiBase?: string | null;
  temperature?: number | null;
  maxTokens?: number | null;
  cache?: boolean | null;
  secretEnv?: string | null;
  /** Write-only; stored encrypted. */
  apiKey?: string | null;
  config?: Record<string, unknown> | null;
  requestsPerMinute?: number | null;
  tokensPerMinute?: number | null;
  /** USD per million tokens; set together (both or neither). */
  inputCostPerMTokens?: number | null;
  outputCostPerMTokens?: number | null;
}

export const DUMMY_MODEL = "dummy";
/**
 * `config.adapter`: the DSPy adapter runs with this model use (bridge-py/dspy_bridge/adapters.py). "chat" is
 * DSPy's default ChatAdapter; "json" its JSONAdapter; "json_schema" a JSONAdapter that always sends the
 * signature's JSON schema as `response_format` (structured outputs), for OpenAI-compatible servers DSPy
 * has no metadata about (llama.cpp, vLLM) — what makes small local models' outputs parse.
 */
export const LM_ADAPTERS = ["chat", "json", "json_schema"] as const;
export const LANGUAGE_MODEL_LIMITS = { maxApiKeyLength: 4_096, maxConfigBytes: 65_536, maxTokens: 1_000_000, maxTemperature: 2, maxCostPerMTokens: 100_000, maxRequestsPerMinute: 10_000_000, maxTokensPerMinute: 2_000_000_000 } as const;

// litellm's "provider/model" form; the provider part picks the client, the rest may contain more slashes.
const MODEL = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.:@+/-]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks the fields of create (all required ones present) or update (only those given).
 * Throws BAD_USER_INPUT naming every problem, each with its path under `input`.
 */
export function validateLanguageModelInput(input: LanguageModelFields, mode: "create" | "update", policies: LanguageModelPolicies): void {
  const issues = new IssueList();
  const given = (key: keyof LanguageModelFields) => input[key] !== undefined;

  if (mode === "create" || given("name")) issues.name("input.name", input.name);
  if (mode === "create" || given("model")) {
    const model = input.model;
    if (typeof model !== "string" || (model !== DUMMY_MODEL && !MODEL.test(model)) || model.length > 200) {
      issues.add("input.model", `must be a litellm model string such as 'openai/gpt-4o-mini' (provider/model) or '${DUMMY_MODEL}', got ${describe(model)}`);
    }
  }
  if (input.apiBase !== undefined && input.apiBase !== null && checkUrl(issues, input.apiBase)) {
    const refusal = policies.egress.refusal(input.apiBase);
    if (refusal) issues.add("input.apiBase", refusal);
  }
  if (input.temperature !== undefined && input.temperature !== null) {
    const t = input.temperature;
    if (!Number.isFinite(t) || t < 0 || t > LANGUAGE_MODEL_LIMITS.maxTemperature) {
      issues.add("input.temperature", `must be between 0 and ${LANGUAGE_MODEL_LIMITS.maxTemperature}, got ${t}`);
    }
  }
  if (input.maxTokens !== undefined && input.maxTokens !== null) {
    const m = input.maxTokens;
    if (!Number.isInteger(m) || m < 1 || m > LANGUAGE_MODEL_LIMITS.maxTokens) {
      issues.add("input.maxTokens", `must be an integer between 1 and ${LANGUAGE_MODEL_LIMITS.maxTokens}, got ${m}`);
    }
  }
  for (const [key, max] of [["requestsPerMinute", LANGUAGE_MODEL_LIMITS.maxRequestsPerMinute], ["tokensPerMinute", LANGUAGE_MODEL_LIMITS.maxTokensPerMinute]] as const) {
    const limit = input[key];
    if (limit !== undefined && limit !== null && (!Number.isInteger(limit) || limit < 1 || limit > max)) issues.add(`input.${key}`, `must be a whole number from 1 to ${max}, got ${limit}`);
  }
  for (const key of ["inputCostPerMTokens", "outputCostPerMTokens"] as const) {
    const price = input[key];
    if (price !== undefined && price !== null && (!Number.isFinite(price) || price < 0 || price > LANGUAGE_MODEL_LIMITS.maxCostPerMTokens)) {
      issues.add(`input.${key}`, `must be USD per million tokens, from 0 to ${LANGUAGE_MODEL_LIMITS.maxCostPerMTokens}, got ${price}`);
    }
  }
  if (input.secretEnv !== undefined && input.secretEnv !== null) {
    if (!ENV_NAME.test(input.secretEnv) || input.secretEnv.length > 200) {
      issues.add("input.secretEnv", "must be the name of an environment variable (letters, digits and _, not starting with a digit)");
    } else if (!policies.secretEnv.allows(input.secretEnv)) {
      issues.add("input.secretEnv", policies.secretEnv.refusal(input.secretEnv));
    }
  }
  if (input.apiKey !== undefined && input.apiKey !== null) {
    // Never echo the value: a problem is described by its shape only.
    if (input.secretEnv !== undefined && input.secretEnv !== null) {
      issues.add("input.apiKey", "give either apiKey (stored encrypted) or secretEnv (the name of an environment variable), not both");
    } else if (input.apiKey.length === 0 || input.apiKey.length > LANGUAGE_MODEL_LIMITS.maxApiKeyLength || /[\s\u0000-\u001f]/.test(input.apiKey)) {
      issues.add("input.apiKey", `must be 1 to ${LANGUAGE_MODEL_LIMITS.maxApiKeyLength} characters without whitespace or control characters`);
    }
  }
  if (input.config !== undefined && input.config !== null) {
    if (issues.jsonObject("input.config", input.config, LANGUAGE_MODEL_LIMITS.maxConfigBytes)) {
      const adapter = input.config["adapter"];
      if (adapter !== undefined && !(LM_ADAPTERS as readonly unknown[]).includes(adapter)) {
        issues.add("input.config.adapter", `must be one of ${LM_ADAPTERS.join(", ")}, got ${describe(adapter)}`);
      }
      const stream = input.config["stream"];
      if (stream !== undefined && typeof stream !== "boolean") issues.add("input.config.stream", `must be true or false, got ${describe(stream)}`);
    }
  }
  if (!issues.empty) throw AppError.fromIssues(issues.issues);
}

/** The `dummy` provider (DSPy's DummyLM) needs its answers: a list of dicts, or a dict of substring → dict. */
export function validateDummyConfig(config: Record<string, unknown> | null | undefined): void {
  const issues = new IssueList();
  const answers = config?.answers;
  if (Array.isArray(answers)) {
    if (answers.length === 0) issues.add("input.config.answers", "must contain at least one answer");
    answers.forEach((answer, i) => {
      if (answer === null || typeof answer !== "object" || Array.isArray(answer)) {
        issues.add(`input.config.answers[${i}]`, `must be an object of output field → value, got ${describe(answer)}`);
      }
    });
  } else if (answers !== null && typeof answers === "object") {
    for (const [key, answer] of Object.entries(answers)) {
      if (answer === null || typeof answer !== "object" || Array.isArray(answer)) {
        issues.add(`input.config.answers[${JSON.stringify(key)}]`, `must be an object of output field → value, got ${describe(answer)}`);
      }
    }
  } else {
    issues.add("input.config.answers", "the dummy model needs `answers`: a list of objects, or an object mapping a substring of the prompt to an object");
  }
  if (!issues.empty) throw AppError.fromIssues(issues.issues);
}

/** Whether `value` is an acceptable URL (issues added when not). */
function checkUrl(issues: IssueList, value: string): boolean {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || value.length > 2000) {
    issues.add("input.apiBase", `must be an http(s) URL, got ${describe(value)}`);
    return false;
  }
  if (url.username || url.password) {
    issues.add("input.apiBase", "must not contain credentials; put the key in an environment variable and name it in secretEnv");
    return false;
  }
  return true;
}
