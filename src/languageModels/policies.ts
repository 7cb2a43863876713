import { SERVER_ENV } from "../config.js";
import { EgressPolicy } from "./egressPolicy.js";
import { SecretEnvPolicy } from "./secretEnvPolicy.js";

/** What an operator allows language models: the variables `secretEnv` may name, where `apiBase` may point. */
export interface LanguageModelPolicies {
  secretEnv: SecretEnvPolicy;
  egress: EgressPolicy;
}

/** The policies when nothing is configured (LM_SECRET_ENV_ALLOW and LM_EGRESS_ALLOW unset). */
export const DEFAULT_POLICIES: LanguageModelPolicies = { secretEnv: SecretEnvPolicy.parse(undefined, SERVER_ENV), egress: EgressPolicy.parse(undefined) };
