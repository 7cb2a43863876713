import { contentHash } from "../canonicalJson.js";
import { AppError } from "../errors.js";
import { DEFAULT_POLICIES, type LanguageModelPolicies } from "../languageModels/policies.js";
import { EMPTY_KEYRING, type SecretKeyring, decryptSecret, languageModelAad } from "../secrets/SecretBox.js";
import type { LanguageModelSpec } from "./DspyAdapter.js";

/** The LM settings a worker needs (`configure_lm.config` in bridge-py/PROTOCOL.md). */
export interface LmWireConfig {
  model: string;
  api_base?: string;
  api_key?: string;
  temperature?: number;
  max_tokens?: number;
  cache: boolean;
  answers?: unknown;
  /** litellm's own retries of transient failures inside one request (default 0: executions retry). */
  num_retries: number;
  /** The DSPy adapter: "chat" | "json" | "json_schema" (LM_ADAPTERS); absent: DSPy's default. */
  adapter?: string;
  /** LM_EGRESS_ALLOW: what the worker may connect to beyond public addresses (bridge-py egress.py). */
  egress_allow: string[];
}

/**
 * Builds the wire config. The API key is read here, at the moment a request needs it: from the
 * environment variable `secretEnv` names, if the policy still allows it
 * (SECRET_ENV_NOT_ALLOWED otherwise), or decrypted from its stored form with `keyring` (failing
 * closed with SECRET_UNREADABLE). The result goes only into that request's message.
 */
export function lmWireConfig(
  lm: LanguageModelSpec,
  env: NodeJS.ProcessEnv = process.env,
  keyring: SecretKeyring = EMPTY_KEYRING,
  policies: LanguageModelPolicies = DEFAULT_POLICIES,
): LmWireConfig {
  const retries = lm.config?.num_retries;
  const config: LmWireConfig = { model: lm.model, cache: lm.cache, num_retries: typeof retries === "number" ? retries : 0, egress_allow: [...policies.egress.allow] };
  if (lm.apiBase) config.api_base = lm.apiBase;
  if (lm.temperature !== null) config.temperature = lm.temperature;
  if (lm.maxTokens !== null) config.max_tokens = lm.maxTokens;
  if (lm.secretEnv) {
    policies.secretEnv.check(lm.secretEnv);
    // An own variable only: "toString" and friends are not in the environment.
    const value = Object.hasOwn(env, lm.secretEnv) ? env[lm.secretEnv] : undefined;
    if (value) config.api_key = value;
  }
  if (lm.apiKeyEncrypted) {
    if (!lm.tenantId) throw new AppError("SECRET_UNREADABLE", "the stored API key could not be decrypted: the language model's tenant is unknown", { layer: "lm" });
    config.api_key = decryptSecret(keyring, lm.apiKeyEncrypted, languageModelAad(lm.tenantId, lm.id));
  }
  if (lm.model === "dummy") config.answers = lm.config?.answers;
  if (typeof lm.config?.adapter === "string") config.adapter = lm.config.adapter;
  return config;
}

/** Key under which a worker keeps an LM: changes whenever any setting (the key included) changes. */
export function lmKey(lm: LanguageModelSpec, config: LmWireConfig): string {
  return `${lm.id}:${contentHash(config).slice(0, 16)}`;
}

/** Key under which a worker keeps a program version: its id plus the hash of what defines it. */
export function programHash(definition: unknown, compiledState: unknown): string {
  // A version's objects are read once and kept (VersionCache) and never change: hashed once each, not per run
  // (an optimized program's demos can make this canonical JSON tens of KB).
  const known = typeof definition === "object" && definition !== null ? hashes.get(definition) : undefined;
  if (known && known.compiledState === compiledState) return known.hash;
  const hash = contentHash({ definition, compiledState: compiledState ?? null });
  if (typeof definition === "object" && definition !== null) hashes.set(definition, { compiledState, hash });
  return hash;
}

const hashes = new WeakMap<object, { compiledState: unknown; hash: string }>();
