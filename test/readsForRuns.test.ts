import assert from "node:assert/strict";
import { expectData, graphql } from "./support/graphql.js";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { createProgram, describeEachStack, predictDefinition } from "./support/stacks.js";

const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { status outputs error { code } programVersion { id } languageModel { id } } }`;
const UPDATE_LM = `mutation($input: UpdateLanguageModelInput!) { updateLanguageModel(input: $input) { id } }`;

/**
 * Executions read their program at most every 2 s (ProgramService.forExecution) and runs their language
 * model (LanguageModelService.forRun); a change made on this instance applies to the next one at once.
 */
describeEachStack("what an execution reads again only every 2 s", { DSPY_ADAPTER: "auto", EXECUTE_RATE_LIMIT: "off" }, (server) => {
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

  it("runs the program's new version right after updateProgram, and the old one right after promoting it back; another language model right after the switch", async () => {
    const { programId, versionId: v1 } = await createProgram(server().url, "moving-program", { model: "openai/m", apiBase: first.url, cache: false });
    const execute = async () => expectData(await run(EXECUTE, { input: { programId, inputs: { question: "which?", n: 1 }, wait: true } })).executeProgram;
    assert.equal((await execute()).programVersion.id, v1);
    const definition = { ...predictDefinition(), modules: { answerer: { type: "Predict", signature: { instructions: "Answer very briefly.", inputs: { question: { type: "str" } }, outputs: { answer: { type: "str" } } } } } };
    const updated = expectData(await run(`mutation($input: UpdateProgramInput!) { updateProgram(input: $input) { currentVersion { id } } }`, { input: { id: programId, definition } })).updateProgram;
    const v2 = updated.currentVersion.id;
    assert.notEqual(v2, v1);
    assert.equal((await execute()).programVersion.id, v2);
    expectData(await run(`mutation($v: ID!) { promoteProgramVersion(versionId: $v) { id } }`, { v: v1 }));
    assert.equal((await execute()).programVersion.id, v1);
    const other = expectData(await run(`mutation($lm: CreateLanguageModelInput!) { createLanguageModel(input: $lm) { id } }`, { lm: { name: "moving-program-lm2", model: "openai/m", apiBase: second.url, cache: false } })).createLanguageModel;
    expectData(await run(`mutation($input: UpdateProgramInput!) { updateProgram(input: $input) { id } }`, { input: { id: programId, languageModelId: other.id } }));
    const switched = await execute();
    assert.equal(switched.languageModel.id, other.id);
    assert.equal(switched.outputs.answer, "second");
  });
});
