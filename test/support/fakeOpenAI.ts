import http from "node:http";
import type { AddressInfo } from "node:net";
import { streamOptionsOf, writeCompletionStream } from "./openAiStream.js";

export interface ScriptedReply {
  /** Output fields, rendered in DSPy's ChatAdapter format. */
  fields?: Record<string, string>;
  status?: number;
  /** The error message of a non-200 answer (default "scripted <status>"). */
  errorMessage?: string;
  delayMs?: number;
  /** The answer's text as is, instead of `fields` in ChatAdapter format. */
  content?: string;
  /** A streamed answer (`stream: true`): characters per chunk (default 4) and the pause between chunks. */
  pieceChars?: number;
  pieceDelayMs?: number;
}

/**
 * An OpenAI-compatible chat-completions server on 127.0.0.1 with scripted answers: DSPy reaches
 * it through litellm exactly as it would a hosted model. `reply` picks the answer from the request
 * (model name and messages), so tests can make one LM slow, failing, or distinct from another.
 */
export async function startFakeOpenAI(
  reply: (request: { model: string; prompt: string }) => ScriptedReply,
): Promise<{ url: string; requests: number; /** The Authorization header of each request, in order (undefined when absent). */ authorizations: (string | undefined)[]; close(): Promise<void> }> {
  const state = { requests: 0 };
  const authorizations: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      state.requests += 1;
      authorizations.push(req.headers.authorization);
      let parsed: { model?: string; messages?: { content?: unknown }[]; stream?: unknown } = {};
      try {
        parsed = JSON.parse(body);
      } catch {
        /* answered below as a bad request */
      }
      const prompt = (parsed.messages ?? []).map((m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content))).join("\n");
      const scripted = reply({ model: parsed.model ?? "", prompt });
      setTimeout(() => {
        if (res.destroyed) return;
        const status = scripted.status ?? 200;
        if (status !== 200) {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { message: scripted.errorMessage ?? `scripted ${status}`, type: "scripted", code: status } }));
          return;
        }
        const content =
          scripted.content ??
          Object.entries(scripted.fields ?? {})
            .map(([name, value]) => `[[ ## ${name} ## ]]\n${value}`)
            .join("\n\n") + "\n\n[[ ## completed ## ]]";
        const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
        const { stream, includeUsage } = streamOptionsOf(parsed);
        if (stream) {
          return writeCompletionStream(res, { id: `chatcmpl-${state.requests}`, model: parsed.model ?? "", content, usage, includeUsage, pieceChars: scripted.pieceChars, pieceDelayMs: scripted.pieceDelayMs });
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            id: `chatcmpl-${state.requests}`,
            object: "chat.completion",
            created: Math.floor(Date.now() / 1000),
            model: parsed.model,
            choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
            usage,
          }),
        );
      }, scripted.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get requests() {
      return state.requests;
    },
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** 10 prompt + 5 completion tokens at 2 and 10 USD per million: what each call of `usePricedFakeOpenAI`'s LM costs. */
export const PRICED_CALL_USD = 10 * 2e-6 + 5 * 10e-6;

/**
 * In a describe block: a fake OpenAI server for its tests (started before them, closed after) that
 * answers "Paris", `slowMs` late for a prompt containing "slow". Returns the language model input on it,
 * priced at 2 / 10 USD per million tokens (`apiBase` is set once the server listens), and the server.
 */
export function usePricedFakeOpenAI(slowMs: number): { priced: { apiBase: string; cache: boolean; inputCostPerMTokens: number; outputCostPerMTokens: number }; lm(): Awaited<ReturnType<typeof startFakeOpenAI>> } {
  const priced = { apiBase: "", cache: false, inputCostPerMTokens: 2, outputCostPerMTokens: 10 };
  let server: Awaited<ReturnType<typeof startFakeOpenAI>> | undefined;
  before(async () => {
    server = await startFakeOpenAI(({ prompt }) => ({ fields: { answer: "Paris" }, delayMs: prompt.includes("slow") ? slowMs : 0 }));
    priced.apiBase = server.url;
  });
  after(async () => {
    await server?.close();
  });
  return {
    priced,
    lm() {
      if (!server) throw new Error("the fake OpenAI server is not started");
      return server;
    },
  };
}
