import assert from "node:assert/strict";
import WebSocket from "ws";
import { ChatFieldStream } from "../src/native/chatStream.js";
import { parseChat } from "../src/native/chatAdapter.js";
import { signatureOf } from "../src/native/signature.js";
import { expectData, graphql, wsClient } from "./support/graphql.js";
import { startFakeOpenAI, type ScriptedReply } from "./support/fakeOpenAI.js";
import { databaseTargets, startTestServer, type TestServer } from "./support/harness.js";
import { createProgram, describeEachStack, pollExecution } from "./support/stacks.js";

const OUTPUT = `subscription($id: ID!) { executionOutput(id: $id) { executionId kind attempt seq step module field text event message outputs status error { code layer retriable } } }`;
const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { id status } }`;

const chainOfThought = (outputs: Record<string, unknown> = { answer: { type: "str" } }) => ({
  inputs: { question: { type: "str" } },
  modules: { think: { type: "ChainOfThought", signature: { inputs: { question: { type: "str" } }, outputs } } },
  forward: [{ call: "think", with: { question: "$input.question" }, as: "t" }, { return: Object.fromEntries(Object.keys(outputs).map((k) => [k, `$t.${k}`])) }],
});

const REASONING = "The question asks for a capital.\n  France's capital is Paris, a city on the Seine.  ";
const ANSWER = "  Paris — on the Seine.\r\nIt has been the capital since 987.\n\n";

function script({ prompt }: { prompt: string }): ScriptedReply {
  const slow = { pieceChars: 3, pieceDelayMs: 4 };
  if (prompt.includes("rate-limited")) return { status: 429, delayMs: 300 };
  if (prompt.includes("unparseable")) return { content: "no fields here at all", ...slow };
  if (prompt.includes("huge")) return { content: `[[ ## reasoning ## ]]\nok\n\n[[ ## answer ## ]]\n${"x".repeat(10 * 1024 * 1024)}\n\n[[ ## completed ## ]]`, pieceChars: 128 * 1024, pieceDelayMs: 2 };
  const content = `[[ ## reasoning ## ]]\n${REASONING}\n\n[[ ## answer ## ]]  ${ANSWER}[[ ## completed ## ]]\n`;
  if (prompt.includes("slowly")) return { content, delayMs: 300 };
  return { content, ...slow };
}

type Item = Record<string, any>;

/** Follows executionOutput over graphql-ws until it completes: its events, and the errors it ended with. */
function follow(url: string, id: string, timeoutMs = 30_000): { ready: Promise<void>; done: Promise<{ items: Item[]; errors: any[] }> } {
  const client = wsClient(url.replace(/^http/, "ws"));
  const items: Item[] = [];
  const errors: any[] = [];
  let markReady = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  client.on("connected", () => markReady());
  const done = new Promise<{ items: Item[]; errors: any[] }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${items.length} events: ${JSON.stringify(items.slice(-3))}`)), timeoutMs);
    const end = () => (clearTimeout(timer), void client.dispose(), resolve({ items, errors }));
    client.subscribe<{ executionOutput: Item }>(
      { query: OUTPUT, variables: { id } },
      {
        next: (value) => (value.errors ? errors.push(...value.errors) : items.push(value.data!.executionOutput)),
        error: (error) => (errors.push(error), end()),
        complete: end,
      },
    );
  });
  return { ready, done };
}

/** Each (step, field)'s DELTA texts joined. */
function joined(items: Item[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items.filter((i) => i.kind === "DELTA")) out[`${item.step}.${item.field}`] = (out[`${item.step}.${item.field}`] ?? "") + item.text;
  return out;
}

describe("ChatFieldStream: a ChatAdapter answer split into fields as it streams", () => {
  // The fields an answer has headers for, all str: so that the parse succeeds and says what each one is.
  const signatureFor = (answer: string) => {
    const outputs = Object.fromEntries(["a", "b", "c"].filter((f) => answer.includes(`[[ ## ${f} ## ]]`)).map((f) => [f, { type: "str" }]));
    return signatureOf({ type: "Predict", signature: { instructions: null, inputs: { q: { type: "str" } }, outputs }, config: {} } as never, undefined);
  };
  const answers = [
    "[[ ## a ## ]]\nhello\n\n[[ ## b ## ]]\nworld\n\n[[ ## completed ## ]]",
    "  [[ ## a ## ]] same line  \r\nsecond\r\n\r\n[[ ## b ## ]]\n\n\t x \n[[ ## completed ## ]]",
    "preamble\n[[ ## b ## ]]\nfirst b\n[[ ## a ## ]]\na text [[ ## not a header\n[[ ## b ## ]]\nsecond b is ignored\n[[ ## c ## ]]\nc\u2028line\u0085end",
    "[[ ## a ## ]]\n[[ ## unknown ## ]]\nskipped\n[[ ## b ## ]]\n[[ #\n[[ ## b\n[\n",
    "[[ ## a ## ]]\nüñî — 中文 😀\n\n\n[[ ## b ## ]]\r\n  spaced   out  \r[[ ## c ## ]]\u00a0nbsp\u00a0",
  ];
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

  it("gives each str field, over any chunking, exactly the text ChatAdapter.parse gives it", () => {
    let checked = 0;
    for (const answer of answers) {
      const parsed = parseChat(signatureFor(answer), answer);
      assert.equal(parsed.ok, true, answer);
      const expected = (parsed as { fields: Record<string, string> }).fields;
      const chunkings = [[answer], Array.from(answer), ...Array.from({ length: 40 }, () => {
        const parts: string[] = [];
        for (let i = 0; i < answer.length; ) {
          const n = 1 + Math.floor(random() * 7);
          parts.push(answer.slice(i, i + n));
          i += n;
        }
        return parts;
      })];
      for (const chunks of chunkings) {
        const got: Record<string, string> = {};
        const stream = new ChatFieldStream(new Set(["a", "b", "c"]), (field, text) => {
          assert.ok(text.length > 0);
          got[field] = (got[field] ?? "") + text;
        });
        for (const chunk of chunks) stream.push(chunk);
        stream.finish();
        for (const field of ["a", "b", "c"]) assert.equal(got[field] ?? "", expected[field] ?? "", `${JSON.stringify(answer)} field ${field} chunked ${JSON.stringify(chunks.slice(0, 5))}`);
        checked++;
      }
    }
    assert.equal(checked, answers.length * 42);
  });
});

describeEachStack("executionOutput: an execution's output as it is written", { DSPY_ADAPTER: "auto", WORKERS: "1", EXECUTION_MAX_ATTEMPTS: "2", EXECUTION_RETRY_BACKOFF_MS: "50" }, (server) => {
  let lm: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let programId: string;
  const execute = async (question: string) => expectData(await graphql(server().url, EXECUTE, { input: { programId, inputs: { question } } })).executeProgram;

  before(async () => {
    lm = await startFakeOpenAI(script);
    ({ programId } = await createProgram(server().url, "streamed", { model: "openai/streamed", apiBase: lm.url, cache: false }, chainOfThought()));
  });
  after(async () => {
    await lm?.close();
  });

  it("streams each output field's text (native ChainOfThought), module STATUS around it, then FINAL; the deltas join to the outputs exactly", async () => {
    const queued = await execute("Capital of France?");
    const { items, errors } = await follow(server().url, queued.id).done;
    assert.deepEqual(errors, []);
    const final = items[items.length - 1]!;
    assert.equal(final.kind, "FINAL");
    assert.equal(final.status, "COMPLETED");
    assert.deepEqual(final.outputs, { answer: "Paris — on the Seine.\nIt has been the capital since 987." });
    const output = items.filter((i) => i.kind === "DELTA" || i.kind === "STATUS");
    assert.deepEqual(output.map((i) => i.seq), output.map((_, n) => n + 1), "numbered 1, 2, 3… without gaps");
    assert.ok(output.every((i) => i.attempt === 1 && i.step === "t" && i.module === "think"));
    assert.deepEqual([output[0]!.kind, output[0]!.event], ["STATUS", "module_start"]);
    const end = output[output.length - 1]!;
    assert.deepEqual([end.kind, end.event], ["STATUS", "module_end"]);
    assert.deepEqual(end.outputs, { reasoning: "The question asks for a capital.\n  France's capital is Paris, a city on the Seine.", answer: final.outputs.answer });
    assert.deepEqual(joined(items), { "t.reasoning": end.outputs.reasoning, "t.answer": final.outputs.answer });
    assert.ok(items.filter((i) => i.kind === "DELTA").length >= 3, "in several pieces");
    const execution = expectData(await graphql(server().url, `query($id: ID!) { execution(id: $id) { adapter } }`, { id: queued.id })).execution;
    assert.equal(execution.adapter, "native");
  });

  it("a subscriber who arrives mid-run gets what was written so far first, then the rest", async () => {
    const queued = await execute("Capital of France, again?");
    await pollExecution(server().url, queued.id, (e) => e.status === "RUNNING");
    await new Promise((resolve) => setTimeout(resolve, 60));
    const { items, errors } = await follow(server().url, queued.id).done;
    assert.deepEqual(errors, []);
    const output = items.filter((i) => i.kind === "DELTA" || i.kind === "STATUS");
    assert.equal(items[items.length - 1]!.status, "COMPLETED");
    // From the first event on (the replay), though it subscribed once the run had started.
    assert.deepEqual(output.map((i) => i.seq), output.map((_, n) => n + 1));
    assert.equal(output[0]?.event, "module_start");
    assert.deepEqual(joined(items)["t.answer"], items[items.length - 1]!.outputs.answer);
  });

  it("a retried attempt starts over (TRANSITION, attempt 2), and a failure ends with FINAL and its error", async () => {
    const queued = await execute("rate-limited please");
    const { items, errors } = await follow(server().url, queued.id).done;
    assert.deepEqual(errors, []);
    const final = items[items.length - 1]!;
    assert.deepEqual([final.kind, final.status, final.attempt, final.error.code, final.error.layer], ["FINAL", "FAILED", 2, "LM_RATE_LIMITED", "lm"]);
    assert.ok(items.some((i) => i.kind === "TRANSITION" && i.status === "PENDING" && i.attempt === 1), JSON.stringify(items));
    assert.ok(items.some((i) => i.kind === "TRANSITION" && i.status === "RUNNING" && i.attempt === 2));
  });

  it("an answer that does not fit the chat format: what was streamed is followed by a 'retry' STATUS (DSPy's JSON fallback)", async () => {
    const queued = await execute("unparseable");
    const { items } = await follow(server().url, queued.id).done;
    assert.ok(items.some((i) => i.kind === "STATUS" && i.event === "retry"), JSON.stringify(items));
    assert.equal(items[items.length - 1]!.kind, "FINAL");
  });

  it("a finished execution: one FINAL, then complete; an unknown one: NOT_FOUND", async () => {
    const queued = await execute("Capital of France, finished?");
    const done = await pollExecution(server().url, queued.id, (e) => e.status === "COMPLETED");
    const { items, errors } = await follow(server().url, queued.id).done;
    assert.deepEqual(errors, []);
    assert.deepEqual(items.map((i) => [i.kind, i.status]), [["FINAL", "COMPLETED"]]);
    assert.deepEqual(items[0]!.outputs, done.outputs);
    const missing = await follow(server().url, "00000000-0000-7000-8000-000000000000").done;
    assert.equal(missing.items.length, 0);
    assert.equal(missing.errors[0]?.extensions?.code ?? missing.errors[0]?.[0]?.extensions?.code, "NOT_FOUND", JSON.stringify(missing.errors));
  });

  it("a model configured with stream: false answers whole (no DELTA), its module STATUS still sent; stream must be a boolean", async () => {
    const { programId: whole } = await createProgram(server().url, "unstreamed", { model: "openai/unstreamed", apiBase: lm.url, cache: false, config: { stream: false } }, chainOfThought());
    const queued = expectData(await graphql(server().url, EXECUTE, { input: { programId: whole, inputs: { question: "Capital of France, slowly?" } } })).executeProgram;
    const { items } = await follow(server().url, queued.id).done;
    assert.equal(items[items.length - 1]!.status, "COMPLETED");
    assert.ok(!items.some((i) => i.kind === "DELTA"));
    assert.ok(items.some((i) => i.kind === "STATUS" && i.event === "module_end"));
    const bad = await graphql(server().url, `mutation { createLanguageModel(input: { name: "bad-stream", model: "openai/x", config: { stream: "yes" } }) { id } }`);
    assert.equal(bad.errors?.[0]?.extensions?.path, "input.config.stream");
  });

  it("streams over Server-Sent Events too (graphql-sse), the same events", async () => {
    const queued = await execute("Capital of France, over SSE?");
    const response = await fetch(server().url, { method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream" }, body: JSON.stringify({ query: OUTPUT, variables: { id: queued.id } }) });
    const text = await response.text();
    const events = text.split("\n\n").filter((b) => b.includes("event:")).map((b) => [/event: (\w+)/.exec(b)![1], /data: (.*)/.exec(b)?.[1]] as const);
    assert.equal(events[events.length - 1]![0], "complete");
    const items = events.filter(([e]) => e === "next").map(([, d]) => JSON.parse(d!).data.executionOutput as Item);
    const final = items[items.length - 1]!;
    assert.equal(final.status, "COMPLETED");
    assert.equal(joined(items)["t.answer"], final.outputs.answer);
  });
});

describe("executionOutput: a slow subscriber", function () {
  this.timeout(120_000);
  let server: TestServer;
  let lm: Awaited<ReturnType<typeof startFakeOpenAI>>;
  before(async () => {
    server = await startTestServer(databaseTargets()[0]!, { DSPY_ADAPTER: "auto", WORKERS: "1", SUBSCRIBER_BUFFER_BYTES: String(256 * 1024) });
    lm = await startFakeOpenAI(script);
  });
  after(async () => {
    await lm?.close();
    await server?.stop();
  });

  it("never slows the run: a subscriber that stops reading is dropped with SLOW_SUBSCRIBER once its buffer is full", async () => {
    const { programId } = await createProgram(server.url, "huge", { model: "openai/huge", apiBase: lm.url, cache: false }, chainOfThought());
    const queued = expectData(await graphql(server.url, EXECUTE, { input: { programId, inputs: { question: "huge" } } })).executeProgram;
    // A plain graphql-transport-ws client whose socket stops reading after the first event.
    const socket = new WebSocket(server.url.replace(/^http/, "ws"), "graphql-transport-ws");
    const messages: any[] = [];
    let paused = false;
    socket.on("message", (data) => {
      const message = JSON.parse(String(data));
      messages.push(message);
      if (message.type === "connection_ack") socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: OUTPUT, variables: { id: queued.id } } }));
      if (message.type === "next" && !paused) {
        paused = true;
        (socket as unknown as { _socket: { pause(): void } })._socket.pause();
      }
    });
    await new Promise((resolve) => socket.once("open", resolve));
    socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
    const started = Date.now();
    const done = await pollExecution(server.url, queued.id, (e) => e.status === "COMPLETED" || e.status === "FAILED", 60_000);
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    assert.equal(done.outputs.answer.length, 10 * 1024 * 1024);
    const runMs = Date.now() - started;
    assert.ok(paused, "the subscriber had stopped reading");
    (socket as unknown as { _socket: { resume(): void } })._socket.resume();
    const deadline = Date.now() + 30_000;
    while (!messages.some((m) => m.type === "complete" || m.type === "error") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    socket.close();
    const errors = messages.filter((m) => m.type === "next" && m.payload.errors).flatMap((m) => m.payload.errors);
    assert.equal(errors.length, 1, `one SLOW_SUBSCRIBER error (run took ${runMs} ms): ${JSON.stringify(messages.map((m) => m.type))}`);
    assert.equal(errors[0].extensions.code, "SLOW_SUBSCRIBER");
    assert.match(errors[0].message, /read too slowly/);
    assert.equal(messages[messages.length - 1].type, "complete");
    // The output is all there for whoever asks again.
    const again = await follow(server.url, queued.id).done;
    assert.deepEqual(again.items.map((i) => i.kind), ["FINAL"]);
  });
});
