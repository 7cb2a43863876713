import assert from "node:assert/strict";
import { assertNoInternals, expectData, expectError, graphql } from "./support/graphql.js";
import { createProgram, describeEachStack, dummyLm } from "./support/stacks.js";

const SUBMIT = `mutation($input: SubmitFeedbackInput!) { submitFeedback(input: $input) { id executionId programId programVersionId subject score comment correctedOutputs } }`;
const TO_EXAMPLES = `mutation($input: AddExamplesFromFeedbackInput!) { addExamplesFromFeedback(input: $input) { dataset { id } examples { inputs labels split feedbackId } skipped } }`;
const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { id status outputs } }`;

const definition = {
  inputs: { question: { type: "str" } },
  modules: { qa: { type: "Predict", signature: { inputs: { question: { type: "str" } }, outputs: { answer: { type: "str" }, confidence: { type: "float" } } } } },
  forward: [{ call: "qa", with: { question: "$input.question" }, as: "a" }, { return: { answer: "$a.answer", confidence: "$a.confidence" } }],
};

describeEachStack("feedback: submitFeedback and addExamplesFromFeedback", { EXECUTE_RATE_LIMIT: "off" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  let programId: string;
  let versionId: string;
  const finished: string[] = [];
  const counts = async () => ({ feedback: await server().countRows("feedback"), examples: await server().countRows("example"), audit: await server().countRows("audit_event") });

  before(async () => {
    ({ programId, versionId } = await createProgram(server().url, "fed-back", dummyLm({ France: { answer: "Lyon", confidence: 0.4 }, Peru: { answer: "Lima", confidence: 0.9 }, Chile: { answer: "Santiago", confidence: 0.8 } }), definition));
    for (const question of ["capital of France?", "capital of Peru?", "capital of Chile?"]) {
      const done = expectData(await run(EXECUTE, { input: { programId, inputs: { question }, wait: true } })).executeProgram;
      assert.equal(done.status, "COMPLETED");
      finished.push(done.id);
    }
  });

  it("records the caller's feedback, and replaces it when the same caller gives it again", async () => {
    const first = expectData(await run(SUBMIT, { input: { executionId: finished[0], score: 0, comment: "wrong capital" } })).submitFeedback;
    assert.deepEqual([first.executionId, first.programId, first.programVersionId, first.subject, first.score, first.comment, first.correctedOutputs], [finished[0], programId, versionId, "dev", 0, "wrong capital", null]);
    const again = expectData(await run(SUBMIT, { input: { executionId: finished[0], score: 0.1, correctedOutputs: { answer: "Paris" } } })).submitFeedback;
    assert.equal(again.id, first.id);
    assert.deepEqual([again.score, again.comment, again.correctedOutputs], [0.1, null, { answer: "Paris" }]);
    const listed = expectData(await run(`query($id: ID!) { execution(id: $id) { feedback { id score correctedOutputs } } }`, { id: finished[0] })).execution.feedback;
    assert.deepEqual(listed, [{ id: first.id, score: 0.1, correctedOutputs: { answer: "Paris" } }]);
    const stats = expectData(await run(`query($id: ID!) { program(id: $id) { versionStats { versionId feedbackCount feedbackScore } } }`, { id: programId })).program.versionStats;
    assert.deepEqual(stats, [{ versionId, feedbackCount: 1, feedbackScore: 0.1 }]);
    const metrics = await (await fetch(server().url.replace("/graphql", "/metrics"))).text();
    assert.ok(metrics.includes(`dspy_program_version_feedback_score_count{program_id="${programId}",version_id="${versionId}"} 2`), "both scores observed");
  });

  it("refuses bad feedback with a path and a reason, writing nothing", async () => {
    // An execution that did not finish: cancelled before it ran. One that ran first cannot be, so 20 are
    // queued at once, each cancelled as soon as it is created: those behind the runner's few slots are
    // still waiting. (Cancelling only once all 20 were created let a slow stack run them all first.)
    let queued: { id: string } | undefined;
    for (let round = 0; round < 5 && !queued; round++) {
      const attempts = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const created = expectData(await run(EXECUTE, { input: { programId, inputs: { question: "capital of Chile?" } } })).executeProgram;
          const cancel = await run(`mutation($id: ID!) { cancelExecution(id: $id) { id } }`, { id: created.id });
          return cancel.errors ? undefined : (created as { id: string });
        }),
      );
      queued = attempts.find((attempt) => attempt !== undefined);
    }
    assert.ok(queued, "an execution was cancelled before it finished");
    const before = await counts();
    const cases: [Record<string, unknown>, string, string, RegExp][] = [
      [{ executionId: finished[1], score: -0.1 }, "BAD_USER_INPUT", "input.score", /from 0 \(bad\) to 1 \(good\)/],
      [{ executionId: finished[1], score: 1.5 }, "BAD_USER_INPUT", "input.score", /got 1.5/],
      [{ executionId: finished[1], score: 1, comment: "x".repeat(10_001) }, "BAD_USER_INPUT", "input.comment", /at most 10000/],
      [{ executionId: finished[1], score: 1, correctedOutputs: { capital: "Lima" } }, "BAD_USER_INPUT", "input.correctedOutputs.capital", /not an output of this program \(outputs: answer, confidence\)/],
      [{ executionId: finished[1], score: 1, correctedOutputs: { confidence: "high" } }, "BAD_USER_INPUT", "input.correctedOutputs.confidence", /float/],
      [{ executionId: finished[1], score: 1, correctedOutputs: {} }, "BAD_USER_INPUT", "input.correctedOutputs", /at least one output/],
      [{ executionId: queued!.id, score: 1 }, "BAD_USER_INPUT", "input.executionId", /finished executions.*CANCELLED/],
      [{ executionId: "00000000-0000-7000-8000-000000000000", score: 1 }, "NOT_FOUND", "input.executionId", /not found/],
      [{ executionId: "not-an-id", score: 1 }, "NOT_FOUND", "input.executionId", /not found/],
    ];
    for (const [input, code, path, reason] of cases) {
      const response = await run(SUBMIT, { input });
      const error = expectError(response, code, path);
      assert.match(error.message, reason, JSON.stringify(input).slice(0, 200));
      assertNoInternals(JSON.stringify(response));
    }
    assert.deepEqual(await counts(), before, "nothing written");
  });

  it("turns corrected executions into examples once per dataset (inputs; outputs with the corrections over them), filtered by score", async () => {
    expectData(await run(SUBMIT, { input: { executionId: finished[1], score: 0.6, correctedOutputs: { confidence: 1 } } }));
    expectData(await run(SUBMIT, { input: { executionId: finished[2], score: 1 } }));
    const dataset = expectData(await run(`mutation { createDataset(input: { name: "from-feedback" }) { id } }`)).createDataset;
    const low = expectData(await run(TO_EXAMPLES, { input: { datasetId: dataset.id, programId, maxScore: 0.5 } })).addExamplesFromFeedback;
    assert.deepEqual(low.examples.map((e: any) => [e.inputs, e.labels, e.split]), [[{ question: "capital of France?" }, { answer: "Paris", confidence: 0.4 }, "TRAIN"]]);
    assert.equal(low.skipped, 0);
    const rest = expectData(await run(TO_EXAMPLES, { input: { datasetId: dataset.id, programId, split: "DEV" } })).addExamplesFromFeedback;
    assert.deepEqual(rest.examples.map((e: any) => [e.inputs.question, e.labels, e.split]), [["capital of Peru?", { answer: "Lima", confidence: 1 }, "DEV"]]);
    assert.equal(rest.skipped, 1, "the one already added");
    const none = expectData(await run(TO_EXAMPLES, { input: { datasetId: dataset.id, programId } })).addExamplesFromFeedback;
    assert.deepEqual([none.examples.length, none.skipped], [0, 2]);
    const stored = expectData(await run(`query($id: ID!) { dataset(id: $id) { examples { totalCount edges { node { feedbackId } } } } }`, { id: dataset.id })).dataset.examples;
    assert.equal(stored.totalCount, 2);
    assert.ok(stored.edges.every((e: any) => typeof e.node.feedbackId === "string"));
  });

  it("refuses bad addExamplesFromFeedback input with a path and a reason, writing nothing", async () => {
    const dataset = expectData(await run(`mutation { createDataset(input: { name: "from-feedback-bad" }) { id } }`)).createDataset;
    const before = await counts();
    expectError(await run(TO_EXAMPLES, { input: { datasetId: dataset.id, programId, minScore: 0.8, maxScore: 0.2 } }), "BAD_USER_INPUT", "input.maxScore");
    expectError(await run(TO_EXAMPLES, { input: { datasetId: dataset.id, programId, minScore: -1 } }), "BAD_USER_INPUT", "input.minScore");
    expectError(await run(TO_EXAMPLES, { input: { datasetId: dataset.id, programId, limit: 0 } }), "BAD_USER_INPUT", "input.limit");
    expectError(await run(TO_EXAMPLES, { input: { datasetId: dataset.id, programId, limit: 1001 } }), "BAD_USER_INPUT", "input.limit");
    expectError(await run(TO_EXAMPLES, { input: { datasetId: dataset.id, programId: "00000000-0000-7000-8000-000000000000" } }), "NOT_FOUND", "input.programId");
    expectError(await run(TO_EXAMPLES, { input: { datasetId: "00000000-0000-7000-8000-000000000000", programId } }), "NOT_FOUND", "input.datasetId");
    assert.deepEqual(await counts(), before, "nothing written");
  });

  it("goes with its execution when the program is deleted", async () => {
    const { programId: doomed } = await createProgram(server().url, "fed-back-doomed", dummyLm({ x: { answer: "y", confidence: 1 } }), definition);
    const done = expectData(await run(EXECUTE, { input: { programId: doomed, inputs: { question: "x" }, wait: true } })).executeProgram;
    expectData(await run(SUBMIT, { input: { executionId: done.id, score: 1 } }));
    const before = await server().countRows("feedback");
    expectData(await run(`mutation($id: ID!) { deleteProgram(id: $id) }`, { id: doomed }));
    assert.equal(await server().countRows("feedback"), before - 1);
  });
});
