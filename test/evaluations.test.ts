import assert from "node:assert/strict";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { expectData, expectError, graphql, wsClient } from "./support/graphql.js";
import { createProgram, describeEachStack, dummyLm, jobsDrained } from "./support/stacks.js";

const FIELDS = `id status split metric numThreads score results queuedAt startedAt finishedAt version
  progress { done total }
  error { code layer message retriable }`;
const EVALUATE = `mutation($input: EvaluateProgramInput!) { evaluateProgram(input: $input) { ${FIELDS} } }`;
const CANCEL = `mutation($id: ID!) { cancelEvaluation(id: $id) { ${FIELDS} } }`;
const GET = `query($id: ID!) { evaluation(id: $id) { ${FIELDS} } }`;
const UPDATED = `subscription($id: ID!) { evaluationUpdated(id: $id) { id status score version progress { done total } } }`;
const TERMINAL = ["COMPLETED", "FAILED", "CANCELLED"];

/** Five capitals; the dummy LM is right for three of them (France, Italy, Spain): 60. */
const CAPITALS: [string, string, string][] = [
  ["France", "Paris", "Paris"],
  ["Italy", "Rome", "Rome"],
  ["Spain", "Madrid", "Madrid"],
  ["Germany", "Berlin", "Munich"],
  ["Japan", "Tokyo", "Kyoto"],
];
const example = (country: string, capital: string, split: string) => ({ inputs: { question: `capital of ${country}?`, n: 1 }, labels: { capital }, split });
const METRIC = { kind: "exact_match", output: "answer", label: "capital" };

/** evaluateProgram end to end: resolver → evaluate-program job → pool → Python worker (dspy.Evaluate) → graphql-ws. */
describeEachStack("evaluations through real DSPy workers", { DSPY_ADAPTER: "python", WORKERS: "1", EVALUATION_CONCURRENCY: "1" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  let program: { programId: string; versionId: string };
  let slow: { programId: string; versionId: string };
  let datasetId: string;
  let slowLm: Awaited<ReturnType<typeof startFakeOpenAI>>;

  before(async () => {
    program = await createProgram(server().url, "eval-capitals", dummyLm(Object.fromEntries(CAPITALS.map(([country, , answer]) => [`capital of ${country}`, { answer }]))));
    // Each answer takes 400 ms: long enough for progress reports (at most every 250 ms) and for a cancel while RUNNING.
    slowLm = await startFakeOpenAI(() => ({ fields: { answer: "Paris" }, delayMs: 400 }));
    slow = await createProgram(server().url, "eval-slow", { model: "openai/slow", apiBase: slowLm.url, cache: false });
    const examples = [...CAPITALS.map(([country, capital]) => example(country, capital, "TEST")), example("France", "Paris", "TRAIN"), example("Mars", "Olympus", "TRAIN")];
    datasetId = expectData(await run(`mutation($e: [ExampleInput!]) { createDataset(input: { name: "eval-capitals", examples: $e }) { id } }`, { e: examples })).createDataset.id;
  });
  after(async () => {
    await slowLm?.close();
  });

  const evaluate = async (input: Record<string, unknown>) =>
    expectData(await run(EVALUATE, { input: { versionId: program.versionId, datasetId, split: "TEST", metric: METRIC, ...input } })).evaluateProgram;

  async function poll(id: string, done: (e: any) => boolean, timeoutMs = 60_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const evaluation = expectData(await run(GET, { id })).evaluation;
      if (done(evaluation)) return evaluation;
      if (Date.now() > deadline) throw new Error(`evaluation never reached the expected state; last: ${JSON.stringify(evaluation)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it("COMPLETED with score exactly 60 for 3 of 5, and per-example results in the split's order", async () => {
    const queued = await evaluate({});
    assert.equal(queued.status, "PENDING");
    assert.deepEqual(queued.progress, { done: 0, total: 5 });
    assert.deepEqual(queued.metric, METRIC);
    const done = await poll(queued.id, (e) => TERMINAL.includes(e.status));
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    assert.equal(done.score, 60);
    assert.deepEqual(done.progress, { done: 5, total: 5 });
    assert.deepEqual(
      done.results.map((r: any) => [r.inputs.question, r.labels.capital, r.prediction?.answer, r.score, r.error]),
      CAPITALS.map(([country, capital, answer]) => [`capital of ${country}?`, capital, answer, answer === capital ? 1 : 0, null]),
    );
    assert.ok(Date.parse(done.queuedAt) <= Date.parse(done.startedAt) && Date.parse(done.startedAt) <= Date.parse(done.finishedAt));
    const listed = expectData(await run(`query($p: ID!) { evaluations(programId: $p, first: 10) { totalCount edges { node { id } } } program(id: $p) { evaluations(first: 10) { totalCount } } }`, { p: program.programId }));
    assert.ok(listed.evaluations.edges.some((e: any) => e.node.id === queued.id));
    assert.equal(listed.program.evaluations.totalCount, listed.evaluations.totalCount);
    const entities = expectData(
      await run(`query($r: [_Any!]!) { _entities(representations: $r) { ... on Evaluation { id score program { name } programVersion { number } dataset { name } } } }`, {
        r: [{ __typename: "Evaluation", id: queued.id }, { __typename: "Evaluation", id: "00000000-0000-7000-8000-000000000000" }],
      }),
    )._entities;
    assert.deepEqual(entities[0], { id: queued.id, score: 60, program: { name: "eval-capitals" }, programVersion: { number: 1 }, dataset: { name: "eval-capitals" } });
    assert.equal(entities[1], null);
  });

  it("records an example whose LM call failed (error, no prediction) without failing the evaluation", async () => {
    const done = await poll((await evaluate({ split: "TRAIN" })).id, (e) => TERMINAL.includes(e.status));
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    assert.equal(done.score, 50);
    assert.equal(done.results[0].error, null);
    assert.equal(done.results[1].score, 0);
    assert.equal(done.results[1].prediction, null);
    assert.match(done.results[1].error, /^[A-Z_]+: /);
  });

  it("scores with an LM judge that is itself a stored program (its current version and language model)", async () => {
    const judgeDefinition = {
      inputs: { answer: { type: "str" }, expected: { type: "str" } },
      modules: {
        judge: {
          type: "Predict",
          signature: { instructions: "Judge whether the answer names the expected city.", inputs: { answer: { type: "str" }, expected: { type: "str" } }, outputs: { correct: { type: "bool" } } },
        },
      },
      forward: [{ call: "judge", with: { answer: "$input.answer", expected: "$input.expected" }, as: "j" }, { return: { correct: "$j.correct" } }],
    };
    // A lenient judge (DummyLM matches the last message, where the inputs are): every answer is
    // correct, so the score is 100 where exact match gave 60.
    const judge = await createProgram(server().url, "eval-judge", dummyLm({ "## expected ##": { correct: true } }), judgeDefinition);
    const metric = { kind: "lm_judge", output: "answer", label: "capital", judge: { programId: judge.programId, score: "correct", inputs: { answer: "output.answer", expected: "label.capital" } } };
    const queued = await evaluate({ metric });
    assert.equal(queued.metric.judge.programId, judge.programId);
    assert.equal(queued.metric.judge.versionId, judge.versionId);
    const done = await poll(queued.id, (e) => TERMINAL.includes(e.status));
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    assert.equal(done.score, 100, JSON.stringify(done.results[0]));
    assert.deepEqual(done.results.map((r: any) => r.score), [1, 1, 1, 1, 1]);

    const before = await server().countRows("evaluation");
    const both = { ...metric, judge: { ...metric.judge, definition: judgeDefinition, languageModelId: judge.languageModelId } };
    expectError(await run(EVALUATE, { input: { versionId: program.versionId, datasetId, split: "TEST", metric: both } }), "BAD_USER_INPUT", "input.metric.judge");
    const unknown = { ...metric, judge: { ...metric.judge, programId: "00000000-0000-7000-8000-000000000000" } };
    expectError(await run(EVALUATE, { input: { versionId: program.versionId, datasetId, split: "TEST", metric: unknown } }), "NOT_FOUND", "input.metric.judge.programId");
    assert.equal(await server().countRows("evaluation"), before);
  });

  it("streams the current state, then progress and transitions in order, over graphql-ws", async () => {
    const queued = await evaluate({ versionId: slow.versionId });
    const client = wsClient(server().wsUrl);
    const seen: any[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no terminal state: ${JSON.stringify(seen)}`)), 60_000);
        const stop = client.subscribe<any>({ query: UPDATED, variables: { id: queued.id } }, {
          next: (value) => {
            if (value.errors) return reject(new Error(JSON.stringify(value.errors)));
            const update = value.data?.evaluationUpdated;
            seen.push(update);
            if (TERMINAL.includes(update?.status)) {
              clearTimeout(timer);
              stop();
              resolve();
            }
          },
          error: reject,
          complete: () => undefined,
        });
      });
    } finally {
      await client.dispose();
    }
    const last = seen[seen.length - 1];
    assert.equal(last.status, "COMPLETED");
    assert.equal(last.score, 20, "the slow LM always answers Paris: 1 of 5");
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1], seen[i]];
      assert.ok(b.version > a.version || (b.version === a.version && b.progress.done > a.progress.done), `in order: ${JSON.stringify(seen)}`);
    }
    const midway = seen.filter((u) => u.status === "RUNNING" && u.progress.done > 0 && u.progress.done < 5);
    assert.ok(midway.length >= 1, `progress while running: ${JSON.stringify(seen)}`);
    assert.ok(midway.every((u) => u.progress.total === 5));
  });

  it("refuses a bad metric, id or split before writing anything (no row, no audit event, no job)", async () => {
    const counts = async () => ({
      evaluations: await server().countRows("evaluation"),
      audit: await server().countRows("audit_event"),
      jobs: await server().jobs.countJobs("evaluate-program"),
    });
    await poll((await evaluate({})).id, (e) => TERMINAL.includes(e.status)); // nothing left running
    await jobsDrained(server(), "evaluate-program");
    const before = await counts();
    const refused = async (code: string, path: string, input: Record<string, unknown>) => {
      const error = expectError(await run(EVALUATE, { input: { versionId: program.versionId, datasetId, split: "TEST", metric: METRIC, ...input } }), code, path);
      return error.message;
    };
    assert.match(await refused("BAD_USER_INPUT", "input.metric.output", { metric: { ...METRIC, output: "city" } }), /no output field 'city'.*answer/);
    assert.match(await refused("BAD_USER_INPUT", "input.metric.label", { metric: { ...METRIC, label: "country" } }), /no label field 'country'.*capital/);
    await refused("BAD_USER_INPUT", "input.metric.kind", { metric: { ...METRIC, kind: "bleu" } });
    await refused("BAD_USER_INPUT", "input.metric.tolerance", { metric: { ...METRIC, tolerance: 1 } });
    await refused("BAD_USER_INPUT", "input.metric.judge", { metric: { ...METRIC, kind: "lm_judge" } });
    await refused("BAD_USER_INPUT", "input.split", { split: "DEV" });
    await refused("BAD_USER_INPUT", "input.numThreads", { numThreads: 0 });
    await refused("NOT_FOUND", "input.versionId", { versionId: "00000000-0000-7000-8000-000000000000" });
    await refused("NOT_FOUND", "input.datasetId", { datasetId: "00000000-0000-7000-8000-000000000000" });
    await refused("NOT_FOUND", "input.datasetId", { datasetId: "not-an-id" });
    assert.deepEqual(await counts(), before);
  });

  it("cancels a PENDING evaluation, and a RUNNING one (its worker stops; the next one runs)", async () => {
    const requestsBefore = slowLm.requests;
    const first = await evaluate({ versionId: slow.versionId });
    const second = await evaluate({});
    // One evaluation at a time (EVALUATION_CONCURRENCY=1): the second waits behind the slow first.
    const running = await poll(first.id, (e) => e.status === "RUNNING");
    const pending = expectData(await run(GET, { id: second.id })).evaluation;
    assert.equal(pending.status, "PENDING");
    const cancelledPending = expectData(await run(CANCEL, { id: second.id })).cancelEvaluation;
    assert.equal(cancelledPending.status, "CANCELLED");
    assert.ok(cancelledPending.finishedAt);
    const cancelledRunning = expectData(await run(CANCEL, { id: running.id })).cancelEvaluation;
    assert.equal(cancelledRunning.status, "CANCELLED");
    // An LM call in flight finishes; no example after it starts (5 examples × 400 ms would take 2 s).
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.ok(slowLm.requests - requestsBefore < 5, `the worker kept calling the LM: ${slowLm.requests - requestsBefore} calls`);
    expectError(await run(CANCEL, { id: second.id }), "ILLEGAL_TRANSITION", "id");
    // The worker was told to stop: the next evaluation completes well before the slow one could have.
    const next = await poll((await evaluate({})).id, (e) => TERMINAL.includes(e.status), 30_000);
    assert.equal(next.status, "COMPLETED");
    for (const id of [first.id, second.id]) {
      const after = expectData(await run(GET, { id })).evaluation;
      assert.equal(after.status, "CANCELLED");
      assert.equal(after.score, null);
      assert.equal(after.results, null);
    }
  });
});
