import { formatMs, formatUsd } from "../format";
import { Json } from "./Json";

/**
 * The execution's trace as both adapters write it (README "Native adapter", "The trace"): one entry
 * per module call with its LM calls (messages, response, tokens, latency) and tool calls. Read
 * defensively: it is JSON, and the Python and native adapters may add keys.
 */
interface LmCall {
  model?: string;
  messages?: unknown;
  response?: unknown;
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
  latency_ms?: number;
  cost?: number | null;
  error?: string;
}

interface ToolCall {
  tool?: string;
  args?: unknown;
  result?: unknown;
  error?: string;
  duration_ms?: number;
}

interface TraceEntry {
  step?: string;
  module?: string;
  type?: string;
  inputs?: unknown;
  outputs?: unknown;
  duration_ms?: number;
  lm_calls?: LmCall[];
  tool_calls?: ToolCall[];
  error?: string;
}

const asList = <T,>(value: unknown): T[] => (Array.isArray(value) ? (value as T[]) : []);

export function Trace({ trace }: { trace: unknown }) {
  const entries = asList<TraceEntry>(trace);
  if (entries.length === 0) return <p class="muted">No trace yet.</p>;
  return (
    <ol class="trace">
      {entries.map((entry, i) => (
        <li key={i} class="trace-step" data-testid="trace-step">
          <div class="trace-head">
            <strong>{entry.step ?? `step ${i + 1}`}</strong> <span class="muted">{[entry.module, entry.type].filter(Boolean).join(" · ")}</span>
            <span class="right">{formatMs(entry.duration_ms)}</span>
          </div>
          {entry.error ? <TraceError text={entry.error} /> : null}
          <Json value={entry.inputs} folded label="inputs" />
          <Json value={entry.outputs} folded label="outputs" />
          {asList<LmCall>(entry.lm_calls).map((call, n) => (
            <LmCallView key={n} call={call} index={n} />
          ))}
          {asList<ToolCall>(entry.tool_calls).map((call, n) => (
            <div key={`tool-${n}`} class="tool-call" data-testid="tool-call">
              <div>
                tool <strong>{call.tool ?? "?"}</strong> <span class="muted">{formatMs(call.duration_ms)}</span>
              </div>
              <Json value={call.args} folded label="arguments" />
              {call.error ? <TraceError text={call.error} /> : <Json value={call.result} folded label="result" />}
            </div>
          ))}
        </li>
      ))}
    </ol>
  );
}

function LmCallView({ call, index }: { call: LmCall; index: number }) {
  const usage = call.usage ?? {};
  return (
    <details class="lm-call" data-testid="lm-call" open={index === 0}>
      <summary>
        LM call {index + 1}: <code>{call.model ?? "?"}</code> · {formatMs(call.latency_ms)} · tokens {usage.prompt_tokens ?? 0} in / {usage.completion_tokens ?? 0} out
        {call.cost !== undefined && call.cost !== null ? ` · ${formatUsd(call.cost)}` : ""}
      </summary>
      {call.error ? <TraceError text={call.error} /> : null}
      <div class="messages">
        {asList<{ role?: string; content?: unknown }>(call.messages).map((message, n) => (
          <div key={n} class={`message role-${message.role ?? "unknown"}`}>
            <span class="role">{message.role ?? "?"}</span>
            <pre>{typeof message.content === "string" ? message.content : JSON.stringify(message.content, null, 2)}</pre>
          </div>
        ))}
        <div class="message role-response" data-testid="lm-response">
          <span class="role">response</span>
          <pre>{call.response === null || call.response === undefined ? "—" : typeof call.response === "string" ? call.response : JSON.stringify(call.response, null, 2)}</pre>
        </div>
      </div>
    </details>
  );
}

/** Trace errors are "CODE: message" strings. */
function TraceError({ text }: { text: string }) {
  const match = /^([A-Z][A-Z0-9_]+): ([\s\S]*)$/.exec(text);
  return (
    <div class="error-box small" data-testid="trace-error">
      {match ? <code class="error-code">{match[1]}</code> : null}
      <span class="error-message">{match ? match[2] : text}</span>
    </div>
  );
}
