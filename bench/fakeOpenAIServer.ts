import http from "node:http";
import type { AddressInfo } from "node:net";
import { streamOptionsOf, writeCompletionStream } from "../test/support/openAiStream.js";

/**
 * The LM of bench/executions.ts's "1 ms OpenAI-compatible LM" comparison, run as its own process
 * (`node dist/bench/fakeOpenAIServer.js [port]`) so that it shares no event loop with the bench or
 * the servers it measures: POST /v1/chat/completions on 127.0.0.1 answers every request 1 ms after
 * its body arrived (setTimeout 1) with a chat.completion in DSPy's ChatAdapter format ("Paris") and
 * a usage object. Keep-alive. Once listening it prints one JSON line on stdout:
 * `{"url":"http://127.0.0.1:PORT","apiBase":"http://127.0.0.1:PORT/v1"}`. SIGTERM / SIGINT stop it.
 */
const CONTENT = "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]";
const USAGE = { prompt_tokens: 120, completion_tokens: 12, total_tokens: 132 };
const port = Number(process.argv[2] ?? 0);
let served = 0;

const server = http.createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    if (request.method !== "POST" || !(request.url ?? "").split("?")[0].endsWith("/chat/completions")) {
      response.writeHead(404, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: { message: `no route ${request.method} ${request.url}`, type: "invalid_request_error" } }));
      return;
    }
    let model = "bench-model";
    let body: unknown = null;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { model?: unknown };
      if (typeof (body as { model?: unknown }).model === "string") model = (body as { model: string }).model;
    } catch {
      // an unreadable body still gets the answer: this server measures nothing but latency
    }
    setTimeout(() => {
      served += 1;
      // A streamed request (the subgraph streams its executions' LM calls) is answered as OpenAI does.
      const { stream, includeUsage } = streamOptionsOf(body);
      if (stream) return writeCompletionStream(response, { id: `chatcmpl-bench-${served}`, model, content: CONTENT, usage: USAGE, includeUsage });
      const payload = JSON.stringify({
        id: `chatcmpl-bench-${served}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { role: "assistant", content: CONTENT }, logprobs: null, finish_reason: "stop" }],
        usage: USAGE,
      });
      response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
      response.end(payload);
    }, 1);
  });
});
// Longer than any client's idle pool timeout, so a client never reuses a socket this side just closed.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;

server.listen(port, "127.0.0.1", () => {
  const { port: bound } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${bound}`;
  process.stdout.write(`${JSON.stringify({ url, apiBase: `${url}/v1` })}\n`);
});

const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
