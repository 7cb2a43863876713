/**
 * The environment a local worker starts with: what Python, DSPy and litellm need to run, never the
 * server's secrets. A worker inherits nothing else, so an API key reaches it only inside the request
 * that needs it (`configure_lm`); litellm cannot pick a provider key (OPENAI_API_KEY…) or anything
 * else of the server's out of its environment and send it to an endpoint a language model names.
 */
const PASSED = new Set(["PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "VIRTUAL_ENV", "TQDM_DISABLE"]);
const PASSED_PREFIXES = ["LC_", "PYTHON", "DSPY_", "LITELLM_", "HF_", "SSL_CERT_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"];

export function workerEnv(parent: NodeJS.ProcessEnv, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value !== undefined && (PASSED.has(name) || PASSED_PREFIXES.some((prefix) => name.startsWith(prefix)))) env[name] = value;
  }
  return { ...env, ...extra, PYTHONUNBUFFERED: "1" };
}
