import type http from "node:http";

/**
 * Answers a chat-completions request made with `stream: true` as OpenAI does: Server-Sent Events, one
 * `chat.completion.chunk` per piece of `content` (`pieceChars` UTF-16 units each, `pieceDelayMs` apart),
 * a last chunk with `finish_reason`, the usage chunk when `stream_options.include_usage` asked for it,
 * then `data: [DONE]`. Used by the fake LM servers of the tests and benches.
 */
export function writeCompletionStream(
  res: http.ServerResponse,
  answer: { id: string; model: string; content: string; usage: Record<string, number>; includeUsage: boolean; pieceChars?: number; pieceDelayMs?: number },
): void {
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta: Record<string, unknown>, finish: string | null, usage?: Record<string, number>) =>
    `data: ${JSON.stringify({ id: answer.id, object: "chat.completion.chunk", created, model: answer.model, choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`;
  const size = Math.max(1, answer.pieceChars ?? 4);
  const pieces: string[] = [];
  for (let i = 0; i < answer.content.length; i += size) pieces.push(answer.content.slice(i, i + size));
  const events = [chunk({ role: "assistant", content: "" }, null), ...pieces.map((piece) => chunk({ content: piece }, null)), chunk({}, "stop")];
  if (answer.includeUsage) events.push(chunk({}, null, answer.usage));
  events.push("data: [DONE]\n\n");
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const delay = answer.pieceDelayMs ?? 0;
  if (delay <= 0) return void res.end(events.join(""));
  let i = 0;
  const next = () => {
    if (res.destroyed) return;
    res.write(events[i++]!);
    if (i < events.length) setTimeout(next, delay);
    else res.end();
  };
  next();
}

/** Whether a chat-completions request body asks for a stream, and for its usage. */
export function streamOptionsOf(body: unknown): { stream: boolean; includeUsage: boolean } {
  const b = (body ?? {}) as { stream?: unknown; stream_options?: { include_usage?: unknown } };
  return { stream: b.stream === true, includeUsage: b.stream_options?.include_usage === true };
}
