import { AppError } from "../errors.js";
import { DEFAULT_POLICIES, type LanguageModelPolicies } from "../languageModels/policies.js";
import type { NormalizedProgram } from "../programs/definition/index.js";
import { secretNames } from "../programs/definition/moduleParts.js";

/**
 * The secrets the HTTP and MCP tools of these programs name in their headers (${NAME}), read from
 * the server's environment under the same policy as a language model's secretEnv: workers start
 * without them (src/workers/workerEnv.ts) and receive only these, with the request that uses them.
 */
export function toolSecrets(programs: NormalizedProgram[], env: NodeJS.ProcessEnv, policies: LanguageModelPolicies = DEFAULT_POLICIES): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const program of programs) {
    for (const module of Object.values(program.modules)) {
      for (const tool of module.tools ?? []) {
        if ("mcp" in tool) Object.assign(secrets, headerSecrets(tool.mcp.headers, env, policies, tool.mcp.url));
        else if (tool.http) Object.assign(secrets, headerSecrets(tool.http.headers, env, policies, tool.name));
      }
    }
  }
  return secrets;
}

/** The values of the ${NAME}s in `headers`, each allowed by the secret policy and set on the server. */
export function headerSecrets(headers: Record<string, string>, env: NodeJS.ProcessEnv, policies: LanguageModelPolicies = DEFAULT_POLICIES, tool = "MCP server"): Record<string, string> {
  const secrets: Record<string, string> = {};
  for (const value of Object.values(headers)) {
    for (const name of secretNames(value)) {
      policies.secretEnv.check(name);
      const secret = Object.hasOwn(env, name) ? env[name] : undefined;
      if (secret === undefined || secret === "") throw new AppError("SECRET_ENV_MISSING", `tool '${tool}': the environment variable ${name} is not set on the server`, { layer: "worker", retriable: false });
      secrets[name] = secret;
    }
  }
  return secrets;
}
