import { AppError } from "../errors.js";

/**
 * Which environment variables a language model's `secretEnv` may name (LM_SECRET_ENV_ALLOW). An
 * editor chooses `secretEnv` and `apiBase`, and the worker sends the variable's value as the bearer
 * token to that base: a variable of the server's own (AUTH_JWT_SECRET, SECRETS_KEY, DATABASE_URL…)
 * would go to whoever the editor points it at. So only variables the operator allowed may be named,
 * and never one the server reads itself. Checked when a model is written and again when a request
 * reads the variable (a model stored before the policy, or under a wider one, is refused then).
 */
export class SecretEnvPolicy {
  private constructor(
    private readonly patterns: RegExp[],
    /** As configured, for messages. */
    readonly text: string,
    private readonly serverEnv: ReadonlySet<string>,
  ) {}

  /** `raw`: comma-separated names or globs (`*` matches any run of characters); empty or `none`: none. */
  static parse(raw: string | undefined, serverEnv: readonly string[]): SecretEnvPolicy {
    const text = raw?.trim() || DEFAULT_ALLOW;
    const entries = text === "none" ? [] : text.split(",").map((entry) => entry.trim()).filter(Boolean);
    const server = new Set(serverEnv);
    for (const entry of entries) {
      if (!/^[A-Za-z_*][A-Za-z0-9_*]*$/.test(entry)) {
        throw new AppError("BAD_CONFIG", `LM_SECRET_ENV_ALLOW: '${entry}' is not a variable name or a glob of one (letters, digits, _ and *)`);
      }
      if (server.has(entry)) throw new AppError("BAD_CONFIG", `LM_SECRET_ENV_ALLOW: '${entry}' is a variable the server reads itself; a language model may never name it`);
    }
    const patterns = entries.map((entry) => new RegExp(`^${entry.replace(/\*/g, "[A-Za-z0-9_]*")}$`));
    return new SecretEnvPolicy(patterns, text, server);
  }

  allows(name: string): boolean {
    return !this.serverEnv.has(name) && this.patterns.some((pattern) => pattern.test(name));
  }

  /** Why `name` is refused, for a BAD_USER_INPUT reason or an execution's error. */
  refusal(name: string): string {
    if (this.serverEnv.has(name)) return `'${name}' is one of the server's own variables; a language model may never name it`;
    return `'${name}' is not a variable the operator allowed for language models (LM_SECRET_ENV_ALLOW: ${this.text})`;
  }

  /** At use: the variable may be read only if the policy still allows it. */
  check(name: string): void {
    if (!this.allows(name)) throw new AppError("SECRET_ENV_NOT_ALLOWED", `secretEnv ${this.refusal(name)}`, { layer: "lm", retriable: false });
  }
}

/** Provider keys by their usual names (OPENAI_API_KEY, ANTHROPIC_API_KEY…), minus the server's own. */
const DEFAULT_ALLOW = "*_API_KEY";
