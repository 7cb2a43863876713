import assert from "node:assert/strict";
import { expectData, expectError, graphql } from "./support/graphql.js";
import { PRICED_CALL_USD as CALL_USD, usePricedFakeOpenAI } from "./support/fakeOpenAI.js";
import { createProgram, describeEachStack } from "./support/stacks.js";

const METRIC = { kind: "exact_match", output: "answer", label: "answer" };

/** Evaluations and optimizations on the workers: their LM usage priced, and budgets counting and stopping them. */
describeEachStack("cost of evaluations and optimizations; budgets stop them", { DSPY_ADAPTER: "python", WORKERS: "1", OPTIMIZATION_CONCURRENCY: "1", EXECUTE_RATE_LIMIT: "off" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  const { priced, lm } = usePricedFakeOpenAI(150);
  const dataset = async (name: string, count: number, slow = false) =>
    expectData(
      await run(`mutation($n: String!, $e: [ExampleInput!]) { createDataset(input: { name: $n, examples: $e }) { id } }`, {
        n: name,
        e: Array.from({ length: count }, (_, i) => ({ inputs: { question: `${slow ? "slow " : ""}capital #${i}?`, n: i }, labels: { answer: "Paris" }, split: "TRAIN" })),
      }),
    ).createDataset.id;
  const poll = async (query: string, id: string, done: (r: any) => boolean) => {
    for (const deadline = Date.now() + 90_000; ; ) {
      const found = Object.values(expectData(await run(query, { id })))[0] as any;
      if (done(found)) return found;
      assert.ok(Date.now() < deadline, `never done: ${JSON.stringify(found)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };


  it("an evaluation's usage and cost: every LM call it made, at the model's price", async () => {
    const { versionId } = await createProgram(server().url, "eval-cost", { model: "openai/eval-cost", ...priced });
    const datasetId = await dataset("eval-cost", 3);
    const queued = expectData(await run(`mutation($input: EvaluateProgramInput!) { evaluateProgram(input: $input) { id } }`, { input: { versionId, datasetId, split: "TRAIN", metric: METRIC } })).evaluateProgram;
    const done = await poll(`query($id: ID!) { evaluation(id: $id) { status score usage cost error { code message } } }`, queued.id, (e) => e.status === "COMPLETED" || e.status === "FAILED");
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    assert.deepEqual([done.usage.lmCalls, done.usage.promptTokens, done.usage.completionTokens], [3, 30, 15]);
    assert.ok(Math.abs(done.cost - 3 * CALL_USD) < 1e-12, String(done.cost));
  });

  it("a spent budget refuses evaluateProgram and optimizeProgram, writing nothing", async () => {
    const { programId, versionId, languageModelId } = await createProgram(server().url, "refused-runs", { model: "openai/refused-runs", ...priced });
    const datasetId = await dataset("refused-runs", 2);
    const budget = expectData(await run(`mutation($input: SetBudgetInput!) { setBudget(input: $input) { id } }`, { input: { languageModelId, period: "DAY", limitUsd: 0 } })).setBudget;
    const before = [await server().countRows("evaluation"), await server().countRows("optimization")];
    expectError(await run(`mutation($input: EvaluateProgramInput!) { evaluateProgram(input: $input) { id } }`, { input: { versionId, datasetId, split: "TRAIN", metric: METRIC } }), "BUDGET_EXCEEDED", "input.versionId");
    expectError(await run(`mutation($input: OptimizeProgramInput!) { optimizeProgram(input: $input) { id } }`, { input: { programId, optimizer: "LABELED_FEW_SHOT", datasetId, trainSplit: "TRAIN", metric: METRIC } }), "BUDGET_EXCEEDED", "input.programId");
    assert.deepEqual([await server().countRows("evaluation"), await server().countRows("optimization")], before);
    expectData(await run(`mutation($id: ID!) { deleteBudget(id: $id) }`, { id: budget.id }));
  });

  it("an optimization whose spend reaches its budget stops: FAILED with BUDGET_EXCEEDED, well before its LM calls were all made", async () => {
    const { programId, languageModelId } = await createProgram(server().url, "opt-budget", { model: "openai/opt-budget", ...priced });
    const datasetId = await dataset("opt-budget", 30, true);
    expectData(await run(`mutation($input: SetBudgetInput!) { setBudget(input: $input) { id } }`, { input: { languageModelId, period: "DAY", limitUsd: 2.5 * CALL_USD } }));
    const calls = lm().requests;
    const queued = expectData(
      await run(`mutation($input: OptimizeProgramInput!) { optimizeProgram(input: $input) { id } }`, {
        input: { programId, optimizer: "BOOTSTRAP_FEW_SHOT", config: { max_bootstrapped_demos: 30, max_labeled_demos: 0, max_rounds: 1 }, datasetId, trainSplit: "TRAIN", metric: METRIC },
      }),
    ).optimizeProgram;
    const done = await poll(`query($id: ID!) { optimization(id: $id) { status error { code layer message } } }`, queued.id, (o) => ["COMPLETED", "FAILED", "CANCELLED"].includes(o.status));
    assert.deepEqual([done.status, done.error?.code], ["FAILED", "BUDGET_EXCEEDED"], JSON.stringify(done));
    assert.match(done.error.message, /daily budget of language model/);
    assert.ok(lm().requests - calls < 30, `stopped after ${lm().requests - calls} of at least 30 LM calls`);
  });
});
