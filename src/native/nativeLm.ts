import { createHash } from "node:crypto";
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { StringDecoder } from "node:string_decoder";
import { AppError } from "../errors.js";
import type { LmWireConfig } from "../adapters/lmWireConfig.js";
import type { EgressPolicy } from "../languageModels/egressPolicy.js";
import { type ChatMessage, dummyAnswer } from "./chatAdapter.js";

export interface LmUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface LmReply {
  text: string;
  usage: LmUsage;
}

export interface LmRequest {
  messages: ChatMessage[];
  /** JSONAdapter's `response_format`, when DSPy would send one. */
  responseFormat?: Record<string, unknown>;
  signal: AbortSignal;
  /** Given, the answer is streamed (`stream: true`) and each piece of its text passed here as it arrives. */
  onText?: (text: string) => void;
}

/** One LM for one run: what the Python worker's `LMEntry.for_run` gives (bridge-py/dspy_bridge/lm.py). */
export interface NativeLm {
  /** As DSPy's `lm.model` (the trace's `model`). */
  readonly model: string;
  /** What the requests send besides the messages (for the LM call's span). */
  readonly settings: { temperature?: number; max_tokens?: number };
  call(request: LmRequest): Promise<LmReply>;
}

const NO_USAGE: LmUsage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

/**
 * DSPy's DummyLM (dspy/utils/dummies.py, `follow_examples=False`), fresh for each run as the worker
 * makes it: a list of answers given in turn (then `{"answer": "No more responses"}`), or an object
 * whose first key found in the last message's content gives the answer ("No more responses" without one).
 */
export class DummyNativeLm implements NativeLm {
  readonly model = "dummy";
  readonly settings = {};
  private next = 0;

  constructor(private readonly answers: unknown) {}

  async call(request: LmRequest): Promise<LmReply> {
    const reply = { text: this.answer(request), usage: NO_USAGE };
    request.onText?.(reply.text);
    return reply;
  }

  private answer(request: LmRequest): string {
    if (Array.isArray(this.answers)) {
      const answer = this.next < this.answers.length ? this.answers[this.next++] : { answer: "No more responses" };
      return dummyAnswer(answer as Record<string, unknown>);
    }
    const last = request.messages[request.messages.length - 1]?.content ?? "";
    const found = Object.entries((this.answers ?? {}) as Record<string, Record<string, unknown>>).find(([key]) => last.includes(key));
    return found ? dummyAnswer(found[1]) : "No more responses";
  }
}

/** Answers kept for identical requests when the LM's `cache` is on (DSPy's request cache, in memory here). */
export class LmResponseCache {
  private readonly entries = new Map<string, string>();

  constructor(private readonly maxEntries = 10_000) {}

  get(key: string): string | undefined {
    const text = this.entries.get(key);
    if (text !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, text);
    }
    return text;
  }

  set(key: string, text: string): void {
    this.entries.delete(key);
    this.entries.set(key, text);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }
}

/** The largest answer body read from an LM endpoint. */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 256 }), https: new https.Agent({ keepAlive: true, maxSockets: 256 }) };

/**
 * An OpenAI-compatible chat-completions endpoint called from Node, as dspy.LM calls it for an
 * `openai/<name>` model: the same settings (api_base, key, temperature, max_tokens, retries), the
 * same egress rule on every address a name resolves to, and failures classified with the worker's
 * codes (bridge-py errors.py `_lm_code`): LM_TIMEOUT, LM_RATE_LIMITED, LM_UNAVAILABLE (retriable),
 * LM_ERROR, LM_EGRESS_REFUSED.
 */
export class OpenAiNativeLm implements NativeLm {
  readonly model: string;
  readonly settings: { temperature?: number; max_tokens?: number };
  /** The key sent as `Authorization: Bearer`: the model's own, else OPENAI_API_KEY, else (an explicit api_base) a placeholder. */
  readonly apiKey: string | undefined;
  private readonly url: URL;

  /** `egress`: the policy `config.egress_allow` was written from (lmWireConfig), not parsed again per run. */
  constructor(
    private readonly config: LmWireConfig,
    private readonly cache: LmResponseCache,
    private readonly egress: EgressPolicy,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.model = config.model;
    this.settings = { ...(config.temperature !== undefined ? { temperature: config.temperature } : {}), ...(config.max_tokens !== undefined ? { max_tokens: config.max_tokens } : {}) };
    this.url = new URL(`${(config.api_base ?? "https://api.openai.com/v1").replace(/\/+$/, "")}/chat/completions`);
    // As the worker (lm.py `_keyless_endpoint`).
    this.apiKey = config.api_key ?? env.OPENAI_API_KEY ?? (config.api_base ? "no-key-needed" : undefined);
  }

  async call(request: LmRequest): Promise<LmReply> {
    const body: Record<string, unknown> = { model: this.model.replace(/^openai\//, ""), messages: request.messages };
    if (this.config.temperature !== undefined) body.temperature = this.config.temperature;
    if (this.config.max_tokens !== undefined) body.max_tokens = this.config.max_tokens;
    if (request.responseFormat) body.response_format = request.responseFormat;
    // Cached by the request as it would be sent unstreamed: a streamed and a plain call share answers.
    const key = this.config.cache ? createHash("sha256").update(`${this.url.href}\n${JSON.stringify(body)}`).digest("hex") : null;
    const cached = key ? this.cache.get(key) : undefined;
    // A cached answer costs no tokens (DSPy reports no usage for a cache hit).
    if (cached !== undefined) {
      request.onText?.(cached);
      return { text: cached, usage: NO_USAGE };
    }
    if (request.onText) Object.assign(body, { stream: true, stream_options: { include_usage: true } });
    const payload = JSON.stringify(body);
    if (!this.apiKey) throw new AppError("LM_ERROR", "AuthenticationError: no API key: set the language model's secret, or OPENAI_API_KEY", { layer: "lm" });
    for (let attempt = 0; ; attempt++) {
      // Text already passed on cannot be taken back: a stream that broke after its first piece is not retried.
      let streamed = false;
      const onText = request.onText && ((text: string) => ((streamed = true), request.onText!(text)));
      try {
        const reply = await this.post(payload, request.signal, onText);
        if (key) this.cache.set(key, reply.text);
        return reply;
      } catch (error) {
        // litellm's retries: transient failures only, with exponential backoff.
        if (!(error instanceof AppError) || !error.retriable || attempt >= this.config.num_retries || request.signal.aborted || streamed) throw error;
        await sleep(Math.min(500 * 2 ** attempt, 8_000), request.signal);
      }
    }
  }

  private post(payload: string, signal: AbortSignal, onText?: (text: string) => void): Promise<LmReply> {
    const url = this.url;
    const literal = url.hostname.replace(/^\[|\]$/g, "");
    if (net.isIP(literal)) {
      // Node connects to an address literal without a lookup: checked here instead.
      const refused = this.egress.connectRefusal(literal, literal);
      if (refused) return Promise.reject(egressRefused(refused));
    }
    const transport = url.protocol === "https:" ? https : http;
    return new Promise<LmReply>((resolve, reject) => {
      const req = transport.request(
        url,
        {
          method: "POST",
          agent: url.protocol === "https:" ? agents.https : agents.http,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), authorization: `Bearer ${this.apiKey}` },
          lookup: this.guardedLookup,
          signal,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          // An endpoint may answer a streamed request in one piece: read as it says it answered.
          const events = onText && status >= 200 && status < 300 && String(res.headers["content-type"] ?? "").includes("text/event-stream") ? new SseCompletion(onText) : null;
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on("data", (chunk: Buffer) => {
            bytes += chunk.length;
            // The answer is read in the server's own process (a worker's crash would only cost that worker): bounded.
            if (bytes > MAX_RESPONSE_BYTES) {
              req.destroy();
              reject(new AppError("LM_ERROR", `APIError: the LM endpoint's answer is larger than ${MAX_RESPONSE_BYTES} bytes`, { layer: "lm" }));
              return;
            }
            if (!events) return void chunks.push(chunk);
            try {
              events.push(chunk);
            } catch (error) {
              req.destroy();
              reject(error);
            }
          });
          res.on("error", (error) => reject(transportError(error, signal)));
          res.on("end", () => {
            try {
              if (events) return resolve(events.end());
              const answer = reply(status, Buffer.concat(chunks).toString("utf8"), res.headers);
              onText?.(answer.text);
              resolve(answer);
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      req.on("error", (error) => reject(transportError(error, signal)));
      req.end(payload);
    });
  }

  /** dns.lookup, refusing a name any of whose addresses the egress policy refuses (as the worker's guarded getaddrinfo). */
  private readonly guardedLookup: net.LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, "", 0);
      for (const { address } of addresses) {
        const refused = this.egress.connectRefusal(hostname, address);
        if (refused) return callback(Object.assign(new Error(refused), { code: "EGRESS_REFUSED" }), "", 0);
      }
      const [first] = addresses;
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }), "", 0);
      // Node asks for every address (options.all) when it tries them in turn (autoSelectFamily).
      if (options.all) return (callback as unknown as (error: null, addresses: dns.LookupAddress[]) => void)(null, addresses);
      callback(null, first.address, first.family);
    });
  };
}

/**
 * A chat completion streamed as Server-Sent Events: `data: {chat.completion.chunk}` lines, then
 * `data: [DONE]`. Each piece of content goes to `onText` as it comes; the usage is the last chunk's
 * (`stream_options.include_usage`).
 */
class SseCompletion {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";
  private text = "";
  private usage: LmUsage = NO_USAGE;
  private done = false;

  constructor(private readonly onText: (text: string) => void) {}

  push(bytes: Buffer): void {
    this.pending += this.decoder.write(bytes);
    let end: number;
    while ((end = this.pending.search(/\r?\n/)) >= 0) {
      const line = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + (this.pending[end] === "\r" ? 2 : 1));
      if (line.startsWith("data:")) this.data(line.slice(5).trim());
    }
  }

  end(): LmReply {
    this.pending += this.decoder.end();
    if (this.pending.startsWith("data:")) this.data(this.pending.slice(5).trim());
    // Complete once it said so: `[DONE]`, or a chunk with a finish_reason (some servers send no `[DONE]`).
    if (!this.done) throw new AppError("LM_UNAVAILABLE", "APIConnectionError: the LM endpoint's stream ended before the answer was complete", { layer: "lm", retriable: true });
    return { text: this.text, usage: this.usage };
  }

  private data(data: string): void {
    if (data === "[DONE]") return void (this.done = true);
    let chunk: { choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[]; usage?: Partial<Record<keyof LmUsage, unknown>> | null; error?: { message?: unknown } };
    try {
      chunk = JSON.parse(data);
    } catch {
      throw new AppError("LM_ERROR", "APIError: the LM endpoint streamed an event that is not JSON", { layer: "lm" });
    }
    if (chunk.error) throw new AppError("LM_ERROR", `APIError: ${typeof chunk.error.message === "string" ? chunk.error.message : "the stream reported an error"}`, { layer: "lm" });
    const content = chunk.choices?.[0]?.delta?.content;
    if (typeof content === "string" && content !== "") {
      this.text += content;
      this.onText(content);
    }
    if (typeof chunk.choices?.[0]?.finish_reason === "string") this.done = true;
    if (chunk.usage) this.usage = usageOf(chunk.usage);
  }
}

function usageOf(usage: Partial<Record<keyof LmUsage, unknown>>): LmUsage {
  const count = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? Math.trunc(value) : 0);
  return { prompt_tokens: count(usage.prompt_tokens), completion_tokens: count(usage.completion_tokens), total_tokens: count(usage.total_tokens) };
}

function reply(status: number, text: string, headers: http.IncomingHttpHeaders): LmReply {
  if (status < 200 || status >= 300) throw statusError(status, text, headers);
  let body: { choices?: { message?: { content?: unknown } }[]; usage?: Partial<Record<keyof LmUsage, unknown>> };
  try {
    body = JSON.parse(text);
  } catch {
    throw new AppError("LM_ERROR", `APIError: the LM endpoint answered ${status} with a body that is not JSON`, { layer: "lm" });
  }
  const content = body.choices?.[0]?.message?.content;
  return { text: typeof content === "string" ? content : "", usage: usageOf(body.usage ?? {}) };
}

/** The worker's classification of an HTTP status (errors.py `_lm_code`). */
function statusError(status: number, text: string, headers: http.IncomingHttpHeaders): AppError {
  let message = text.slice(0, 500);
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === "string") message = parsed.error.message;
  } catch {
    /* not JSON: the text itself */
  }
  const details: Record<string, unknown> = { status };
  const retryAfter = Number(headers["retry-after"]);
  if (Number.isFinite(retryAfter)) details.retry_after = retryAfter;
  if (status === 408) return new AppError("LM_TIMEOUT", `Timeout: ${status}: ${message}`, { layer: "lm", retriable: true, details });
  if (status === 429) return new AppError("LM_RATE_LIMITED", `RateLimitError: ${status}: ${message}`, { layer: "lm", retriable: true, details });
  if (status >= 500) return new AppError("LM_UNAVAILABLE", `ServiceUnavailableError: ${status}: ${message}`, { layer: "lm", retriable: true, details });
  return new AppError("LM_ERROR", `APIError: ${status}: ${message}`, { layer: "lm", details });
}

function transportError(error: Error & { code?: string }, signal: AbortSignal): AppError {
  if (signal.aborted && signal.reason instanceof AppError) return signal.reason;
  if (error.code === "EGRESS_REFUSED") return egressRefused(error.message);
  if (error.code === "ETIMEDOUT") return new AppError("LM_TIMEOUT", `Timeout: ${error.message}`, { layer: "lm", retriable: true });
  return new AppError("LM_UNAVAILABLE", `APIConnectionError: ${error.code ?? error.name}: ${error.message}`, { layer: "lm", retriable: true });
}

function egressRefused(reason: string): AppError {
  return new AppError("LM_EGRESS_REFUSED", reason, { layer: "lm", details: { exception: "EgressRefused" } });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
