import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { expectData, graphql } from "./support/graphql.js";
import { startFakeOpenAI, type ScriptedReply } from "./support/fakeOpenAI.js";
import { createProgram, describeEachStack, EXECUTION_FIELDS, pollExecution } from "./support/stacks.js";

const FIELDS = `${EXECUTION_FIELDS} adapter error { code layer message retriable details }`;
const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { ${FIELDS} } }`;
const CANCEL = `mutation($id: ID!) { cancelExecution(id: $id) { id status } }`;

const chainOfThought = (type = "ChainOfThought") => ({
  inputs: { question: { type: "str" } },
  modules: { think: { type, signature: { inputs: { question: { type: "str" } }, outputs: { answer: { type: "str" }, confidence: { type: "float" } } } } },
  forward: [{ call: "think", with: { question: "$input.question" }, as: "t" }, { return: { answer: "$t.answer", confidence: "$t.confidence" } }],
});

function script({ prompt }: { prompt: string }): ScriptedReply {
  if (prompt.includes("rate-limited")) return { status: 429 };
  const fields = { reasoning: "Paris is the capital.", answer: "Paris", confidence: "0.9", rationale: "compared" };
  return { fields };
}

/** Executions through GraphQL with the default adapter (auto): native where it can, the workers otherwise, and the execution says which. */
describeEachStack("native executions (DSPY_ADAPTER=auto)", { DSPY_ADAPTER: "auto", WORKERS: "1", EXECUTION_MAX_ATTEMPTS: "2", EXECUTION_RETRY_BACKOFF_MS: "50" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  const execute = async (programId: string, question: string, extra: Record<string, unknown> = {}) =>
    expectData(await run(EXECUTE, { input: { programId, inputs: { question }, ...extra } })).executeProgram;
  let lm: Awaited<ReturnType<typeof startFakeOpenAI>>;

  before(async () => {
    lm = await startFakeOpenAI(script);
  });
  after(async () => {
    await lm?.close();
  });

  it("runs a ChainOfThought program natively: outputs, usage and a trace of the same shape as DSPy's, adapter 'native'", async () => {
    const { programId } = await createProgram(server().url, "native-cot", { model: "openai/native-cot", apiBase: lm.url, cache: false }, chainOfThought());
    const done = await execute(programId, "Capital of France?", { wait: true });
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    assert.equal(done.adapter, "native");
    assert.deepEqual(done.outputs, { answer: "Paris", confidence: 0.9 });
    assert.deepEqual(done.usage, { promptTokens: 10, completionTokens: 5, totalTokens: 15, lmCalls: 1 });
    const [entry] = done.trace;
    assert.deepEqual([entry.step, entry.module, entry.type], ["t", "think", "ChainOfThought"]);
    assert.deepEqual(entry.outputs, { reasoning: "Paris is the capital.", answer: "Paris", confidence: 0.9 });
    const messages = entry.lm_calls[0].messages;
    assert.deepEqual(messages.map((m: { role: string }) => m.role), ["system", "user"]);
    assert.match(messages[0].content, /^Your input fields are:\n1\. `question` \(str\):\nYour output fields are:\n1\. `reasoning` \(str\): \n2\. `answer` \(str\): \n3\. `confidence` \(float\):\nAll interactions/);
    assert.equal(entry.lm_calls[0].model, "openai/native-cot");
  });

  it("leaves to the workers what it does not run natively (a MultiChainComparison module), adapter 'python'", async () => {
    const { programId } = await createProgram(server().url, "native-mcc", { model: "openai/native-mcc", apiBase: lm.url, cache: false }, chainOfThought("MultiChainComparison"));
    const done = await execute(programId, "Capital of France?", { wait: true, waitTimeoutMs: 60_000 });
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    assert.equal(done.adapter, "python");
  });

  it("a retriable LM failure is retried and recorded as the native adapter's: FAILED after the attempts, error in the lm layer", async () => {
    const { programId } = await createProgram(server().url, "native-429", { model: "openai/native-429", apiBase: lm.url, cache: false }, chainOfThought());
    const failed = await execute(programId, "rate-limited please", { wait: true });
    assert.equal(failed.status, "FAILED");
    assert.deepEqual([failed.error.code, failed.error.layer, failed.error.retriable, failed.attempt], ["LM_RATE_LIMITED", "lm", true, 2]);
    assert.equal(failed.adapter, "native");
    assert.equal(failed.error.details.adapter, "native");
    assert.ok(!JSON.stringify(failed.error).includes("Traceback"));
  });

  it("cancelling a RUNNING native execution aborts its LM request", async () => {
    let aborted = 0;
    const hanging = http.createServer((req) => req.on("close", () => aborted++));
    await new Promise<void>((resolve) => hanging.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/v1`;
      const { programId } = await createProgram(server().url, "native-hang", { model: "openai/native-hang", apiBase: url, cache: false }, chainOfThought());
      const queued = await execute(programId, "never answered");
      await pollExecution(server().url, queued.id, (e) => e.status === "RUNNING");
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(expectData(await run(CANCEL, { id: queued.id })).cancelExecution.status, "CANCELLED");
      const deadline = Date.now() + 5_000;
      while (aborted === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(aborted, 1, "the LM request was aborted");
    } finally {
      hanging.closeAllConnections();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });
});
