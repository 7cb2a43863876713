import http from "node:http";
import type { AddressInfo } from "node:net";
import { streamOptionsOf, writeCompletionStream } from "./openAiStream.js";

export interface RecordedRequest {
  model: string;
  body: Record<string, unknown>;
}

/**
 * An OpenAI-compatible chat-completions server on 127.0.0.1 that records each request whole and
 * answers each caller with its own script of completions, in order (then "No script"). A caller is
 * named by its apiBase, `apiBase(key)`, so runs on one model name stay apart. Used to compare,
 * request for request, what DSPy sends with what the native adapter sends.
 */
export async function startRecordingOpenAI(): Promise<{
  apiBase(key: string): string;
  script(key: string, completions: readonly string[]): void;
  requests(key: string): RecordedRequest[];
  close(): Promise<void>;
}> {
  const scripts = new Map<string, string[]>();
  const recorded = new Map<string, RecordedRequest[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        res.writeHead(400).end();
        return;
      }
      const model = String(body.model ?? "");
      const key = decodeURIComponent((req.url ?? "").split("/")[1] ?? "");
      recorded.set(key, [...(recorded.get(key) ?? []), { model, body }]);
      const content = scripts.get(key)?.shift() ?? "No script";
      const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
      const { stream, includeUsage } = streamOptionsOf(body);
      if (stream) return writeCompletionStream(res, { id: "chatcmpl-recorded", model, content, usage, includeUsage });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: "chatcmpl-recorded",
          object: "chat.completion",
          created: 0,
          model,
          choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
          usage,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    apiBase: (key) => `http://127.0.0.1:${port}/${encodeURIComponent(key)}/v1`,
    script: (key, completions) => void scripts.set(key, [...completions]),
    requests: (key) => recorded.get(key) ?? [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
