import assert from "node:assert/strict";
import { expectData, graphql } from "./support/graphql.js";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { createProgram, describeEachStack } from "./support/stacks.js";

const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { status outputs error { code } } }`;
const UPDATE_LM = `mutation($input: UpdateLanguageModelInput!) { updateLanguageModel(input: $input) { id } }`;

/** Runs read their language model at most every 2 s (LanguageModelService.forRun); an update applies to the next run at once. */
describeEachStack("a run's language model", { DSPY_ADAPTER: "auto", EXECUTE_RATE_LIMIT: "off" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  let first: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let second: Awaited<ReturnType<typeof startFakeOpenAI>>;

  before(async () => {
    first = await startFakeOpenAI(() => ({ fields: { answer: "first" } }));
    second = await startFakeOpenAI(() => ({ fields: { answer: "second" } }));
  });
  after(async () => {
    await first?.close();
    await second?.close();
  });

  it("is the updated one for the next execution, right after the update, and reads after that reuse it", async () => {
    const { programId, languageModelId } = await createProgram(server().url, "moved-lm", { model: "openai/m", apiBase: first.url, cache: false });
    const execute = async () => expectData(await run(EXECUTE, { input: { programId, inputs: { question: "which?", n: 1 }, wait: true } })).executeProgram;
    for (let i = 0; i < 3; i++) assert.equal((await execute()).outputs.answer, "first");
    expectData(await run(UPDATE_LM, { input: { id: languageModelId, apiBase: second.url } }));
    const after = await execute();
    assert.equal(after.status, "COMPLETED", JSON.stringify(after.error));
    assert.equal(after.outputs.answer, "second", "the first execution after the update went to the new apiBase");
    assert.equal(first.requests, 3);
    assert.equal(second.requests, 1);
  });
});
