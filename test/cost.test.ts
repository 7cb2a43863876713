import assert from "node:assert/strict";
import { expectData, expectError, graphql } from "./support/graphql.js";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { createProgram, describeEachStack, dummyLm } from "./support/stacks.js";

const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { id status cost trace error { code } } }`;
const PRICE = `query($id: ID!) { languageModel(id: $id) { inputCostPerMTokens outputCostPerMTokens price { inputPerMTokens outputPerMTokens source } } }`;
const UPDATE_LM = `mutation($input: UpdateLanguageModelInput!) { updateLanguageModel(input: $input) { id } }`;
const CREATE_LM = `mutation($input: CreateLanguageModelInput!) { createLanguageModel(input: $input) { id } }`;

/** The fake LM reports 10 prompt and 5 completion tokens per answer. */
const close = (a: number, b: number) => Math.abs(a - b) < 1e-12;

describeEachStack("cost: prices per model, cost per LM call and execution, spend", { DSPY_ADAPTER: "auto", EXECUTE_RATE_LIMIT: "off" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  let lm: Awaited<ReturnType<typeof startFakeOpenAI>>;
  const since = new Date(Date.now() - 60_000).toISOString();

  before(async () => {
    lm = await startFakeOpenAI(() => ({ fields: { answer: "Paris" } }));
  });
  after(async () => {
    await lm?.close();
  });

  it("prices a model's calls at its own prices: each LM call in the trace and the execution carry their cost", async () => {
    const { programId, languageModelId } = await createProgram(server().url, "priced", { model: "openai/house-model", apiBase: lm.url, cache: false, inputCostPerMTokens: 2, outputCostPerMTokens: 10 });
    const price = expectData(await run(PRICE, { id: languageModelId })).languageModel;
    assert.deepEqual(price, { inputCostPerMTokens: 2, outputCostPerMTokens: 10, price: { inputPerMTokens: 2, outputPerMTokens: 10, source: "override" } });
    const done = expectData(await run(EXECUTE, { input: { programId, inputs: { question: "capital?", n: 1 }, wait: true } })).executeProgram;
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    const expected = 10 * 2e-6 + 5 * 10e-6;
    assert.ok(close(done.cost, expected), `${done.cost} vs ${expected}`);
    assert.ok(close(done.trace[0].lm_calls[0].cost, expected));
  });

  it("prices a hosted model from litellm's cost map (openai/gpt-4o-mini), and leaves unknown models unpriced", async () => {
    const { programId, languageModelId } = await createProgram(server().url, "litellm-priced", { model: "openai/gpt-4o-mini", apiBase: lm.url, cache: false });
    const price = expectData(await run(PRICE, { id: languageModelId })).languageModel.price;
    assert.equal(price.source, "litellm");
    assert.ok(price.inputPerMTokens > 0 && price.outputPerMTokens > 0);
    const done = expectData(await run(EXECUTE, { input: { programId, inputs: { question: "capital?", n: 1 }, wait: true } })).executeProgram;
    assert.ok(close(done.cost, (10 * price.inputPerMTokens + 5 * price.outputPerMTokens) / 1e6), String(done.cost));
    const { programId: unpriced, languageModelId: dummy } = await createProgram(server().url, "unpriced", dummyLm({ capital: { answer: "Paris" } }));
    assert.equal(expectData(await run(PRICE, { id: dummy })).languageModel.price, null);
    const free = expectData(await run(EXECUTE, { input: { programId: unpriced, inputs: { question: "capital?", n: 1 }, wait: true } })).executeProgram;
    assert.equal(free.status, "COMPLETED");
    assert.equal(free.cost, null);
  });

  it("sums spend over a period, per language model and per program, and per version in versionStats", async () => {
    const spent = expectData(await run(`query($s: DateTimeISO!) { spend(since: $s) { executions cost byLanguageModel { languageModelId cost executions languageModel { name } } byProgram { programId cost executions program { name } } } }`, { s: since })).spend;
    const rows = expectData(await run(`query { executions(first: 100) { edges { node { cost languageModel { id } program { id } } } } }`)).executions.edges.map((e: any) => e.node);
    const total = rows.reduce((n: number, e: any) => n + (e.cost ?? 0), 0);
    assert.equal(spent.executions, rows.length);
    assert.ok(close(spent.cost, total), `${spent.cost} vs ${total}`);
    const house = spent.byLanguageModel.find((g: any) => g.languageModel.name === "priced-lm");
    assert.ok(close(house.cost, 10 * 2e-6 + 5 * 10e-6));
    assert.ok(spent.byProgram[0].cost >= spent.byProgram[spent.byProgram.length - 1].cost, "most expensive first");
    const program = spent.byProgram.find((g: any) => g.program.name === "priced");
    const stats = expectData(await run(`query($id: ID!) { program(id: $id) { versionStats { cost } } }`, { id: program.programId })).program.versionStats;
    assert.ok(close(stats[0].cost, program.cost));
    expectError(await run(`query($s: DateTimeISO!, $u: DateTimeISO!) { spend(since: $s, until: $u) { cost } }`, { s: since, u: since }), "BAD_USER_INPUT", "until");
    expectError(await run(`query($s: DateTimeISO!) { spend(since: $s) { cost } }`, { s: "2020-01-01T00:00:00Z" }), "BAD_USER_INPUT", "since");
  });

  it("refuses bad prices with a path and a reason, writing nothing", async () => {
    const before = await server().countRows("language_model");
    const base = { name: "bad-price", model: "openai/x", apiBase: lm.url };
    expectError(await run(CREATE_LM, { input: { ...base, inputCostPerMTokens: -1, outputCostPerMTokens: 1 } }), "BAD_USER_INPUT", "input.inputCostPerMTokens");
    expectError(await run(CREATE_LM, { input: { ...base, inputCostPerMTokens: 1, outputCostPerMTokens: 100_001 } }), "BAD_USER_INPUT", "input.outputCostPerMTokens");
    const half = expectError(await run(CREATE_LM, { input: { ...base, inputCostPerMTokens: 1 } }), "BAD_USER_INPUT", "input.outputCostPerMTokens");
    assert.match(half.message, /together/);
    assert.equal(await server().countRows("language_model"), before);
    const { languageModelId } = await createProgram(server().url, "repriced", { model: "openai/y", apiBase: lm.url, inputCostPerMTokens: 1, outputCostPerMTokens: 2 });
    expectError(await run(UPDATE_LM, { input: { id: languageModelId, outputCostPerMTokens: null } }), "BAD_USER_INPUT", "input.outputCostPerMTokens");
    assert.deepEqual(expectData(await run(PRICE, { id: languageModelId })).languageModel.price, { inputPerMTokens: 1, outputPerMTokens: 2, source: "override" });
    expectData(await run(UPDATE_LM, { input: { id: languageModelId, inputCostPerMTokens: null, outputCostPerMTokens: null } }));
    assert.equal(expectData(await run(PRICE, { id: languageModelId })).languageModel.inputCostPerMTokens, null);
  });
});
