import assert from "node:assert/strict";
import { assertNoInternals, expectData, expectError, graphql } from "./support/graphql.js";
import { PRICED_CALL_USD as CALL_USD, usePricedFakeOpenAI } from "./support/fakeOpenAI.js";
import { createProgram, describeEachStack, pollExecution } from "./support/stacks.js";

const SET = `mutation($input: SetBudgetInput!) { setBudget(input: $input) { id languageModelId period limitUsd spentUsd resetsAt } }`;
const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { id status cost error { code layer message retriable details } } }`;

describeEachStack("budgets: BUDGET_EXCEEDED before any LM call", { DSPY_ADAPTER: "auto", EXECUTE_RATE_LIMIT: "off", JOB_CONCURRENCY: "1" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  const { priced, lm } = usePricedFakeOpenAI(300);


  it("a language model's daily budget: runs until it is spent, then executeProgram is refused with BUDGET_EXCEEDED, writing nothing", async () => {
    const { programId, languageModelId } = await createProgram(server().url, "budgeted", { model: "openai/budgeted", ...priced });
    const budget = expectData(await run(SET, { input: { languageModelId, period: "DAY", limitUsd: CALL_USD * 1.5 } })).setBudget;
    assert.deepEqual([budget.languageModelId, budget.period, budget.spentUsd], [languageModelId, "DAY", 0]);
    assert.ok(Date.parse(budget.resetsAt) > Date.now());
    for (let i = 0; i < 2; i++) {
      const done = expectData(await run(EXECUTE, { input: { programId, inputs: { question: `q${i}`, n: 1 }, wait: true } })).executeProgram;
      assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    }
    const before = await server().countRows("execution");
    const response = await run(EXECUTE, { input: { programId, inputs: { question: "one more", n: 1 }, wait: true } });
    const error = expectError(response, "BUDGET_EXCEEDED", "input.programId");
    assert.match(error.message, /daily budget of language model .* is spent \(0\.00014 of 0\.000105 USD\); it resets at/);
    assertNoInternals(JSON.stringify(response));
    assert.equal(await server().countRows("execution"), before, "nothing written");
    const listed = expectData(await run(`query { budgets { languageModelId spentUsd limitUsd languageModel { name } } }`)).budgets.find((b: any) => b.languageModelId === languageModelId);
    assert.ok(Math.abs(listed.spentUsd - 2 * CALL_USD) < 1e-12);
    assert.equal(listed.languageModel.name, "budgeted-lm");
    // Raised, it runs again.
    expectData(await run(SET, { input: { languageModelId, period: "DAY", limitUsd: 1 } }));
    assert.equal(expectData(await run(EXECUTE, { input: { programId, inputs: { question: "again", n: 1 }, wait: true } })).executeProgram.status, "COMPLETED");
  });

  it("a queued execution whose budget was spent while it waited fails with BUDGET_EXCEEDED when its attempt starts, without calling the LM", async () => {
    const { programId, languageModelId } = await createProgram(server().url, "queued-budget", { model: "openai/queued-budget", ...priced });
    expectData(await run(SET, { input: { languageModelId, period: "MONTH", limitUsd: CALL_USD / 2 } }));
    const calls = lm().requests;
    // One slot (JOB_CONCURRENCY 1): the first runs (slowly) while the other two wait in the queue.
    const ids = [];
    for (const q of ["slow one", "two", "three"]) ids.push(expectData(await run(EXECUTE, { input: { programId, inputs: { question: q, n: 1 } } })).executeProgram.id);
    const first = await pollExecution(server().url, ids[0], (e) => e.status === "COMPLETED" || e.status === "FAILED");
    assert.equal(first.status, "COMPLETED");
    for (const id of ids.slice(1)) {
      const failed = await pollExecution(server().url, id, (e) => e.status === "FAILED" || e.status === "COMPLETED");
      assert.deepEqual([failed.status, failed.error.code, failed.error.retriable], ["FAILED", "BUDGET_EXCEEDED", false]);
    }
    assert.equal(lm().requests - calls, 1, "only the first called the LM");
  });

  it("a tenant budget applies to every language model", async () => {
    const { programId } = await createProgram(server().url, "tenant-budget", { model: "openai/tenant-budget", ...priced });
    const tenant = expectData(await run(SET, { input: { period: "DAY", limitUsd: 0 } })).setBudget;
    assert.equal(tenant.languageModelId, null);
    expectError(await run(EXECUTE, { input: { programId, inputs: { question: "x", n: 1 } } }), "BUDGET_EXCEEDED", "input.programId");
    const batch = await run(`mutation($p: ID!) { executeProgramBatch(input: { programId: $p, inputs: [{ question: "x", n: 1 }] }) { id } }`, { p: programId });
    expectError(batch, "BUDGET_EXCEEDED");
    assert.equal(expectData(await run(`mutation($id: ID!) { deleteBudget(id: $id) }`, { id: tenant.id })).deleteBudget, true);
    assert.equal(expectData(await run(EXECUTE, { input: { programId, inputs: { question: "x", n: 1 }, wait: true } })).executeProgram.status, "COMPLETED");
  });

  it("refuses bad budgets with a path and a reason, writing nothing", async () => {
    const before = await server().countRows("budget");
    expectError(await run(SET, { input: { period: "DAY", limitUsd: -1 } }), "BAD_USER_INPUT", "input.limitUsd");
    expectError(await run(SET, { input: { period: "DAY", limitUsd: 1e10 } }), "BAD_USER_INPUT", "input.limitUsd");
    expectError(await run(SET, { input: { languageModelId: "00000000-0000-7000-8000-000000000000", period: "DAY", limitUsd: 1 } }), "NOT_FOUND", "input.languageModelId");
    expectError(await run(`mutation { deleteBudget(id: "00000000-0000-7000-8000-000000000000") }`), "NOT_FOUND", "id");
    const wrongPeriod = await run(SET, { input: { period: "WEEK", limitUsd: 1 } });
    assert.ok(wrongPeriod.errors?.length, "WEEK is not a period");
    assert.equal(await server().countRows("budget"), before);
  });
});
