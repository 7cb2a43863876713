import { AppError } from "../errors.js";

export const REDACTED = "[REDACTED]";

/**
 * `value` with every occurrence of each of `secrets` replaced by [REDACTED], in every string and key
 * at any depth. The worker already scrubs what it sends (bridge-py errors.py); this is the second
 * line, on what the adapter returns and the product stores, for the keys that request carried.
 */
export function scrubSecrets<T>(value: T, secrets: readonly string[]): T {
  if (secrets.length === 0 || value === undefined || value === null) return value;
  const text = JSON.stringify(value);
  if (text === undefined) return value;
  const forms = secrets.map((secret) => JSON.stringify(secret).slice(1, -1));
  if (!forms.some((form) => text.includes(form))) return value;
  return JSON.parse(forms.reduce((out, form) => out.split(form).join(REDACTED), text)) as T;
}

/** An error with its message and details scrubbed of `secrets` (other errors pass through). */
export function scrubError(error: unknown, secrets: readonly string[]): unknown {
  if (!(error instanceof AppError) || secrets.length === 0) return error;
  const message = scrubSecrets(error.message, secrets);
  const details = scrubSecrets(error.details, secrets);
  if (message === error.message && details === error.details) return error;
  return new AppError(error.code, message, { layer: error.layer, retriable: error.retriable, path: error.path, issues: error.issues, details, extensions: error.extensions });
}
