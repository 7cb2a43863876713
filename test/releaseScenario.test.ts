import assert from "node:assert/strict";
import { expectData, graphql } from "./support/graphql.js";
import { describeEachDatabase } from "./support/harness.js";
import { createProgram, dummyLm, pollExecution, predictDefinition } from "./support/stacks.js";

const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { id status outputs label version: programVersion { id } } }`;
const SET = `mutation($input: SetProgramLabelInput!) { setProgramLabel(input: $input) { name } }`;

/**
 * Issue 16's scenario, through GraphQL on the default adapter (the dummy model runs on DSPy in the
 * workers): a 90/10 split over 1,000 executions, feedback on what production got wrong becomes a
 * dataset, a scheduled optimization on it produces a version, and moving the label switches traffic.
 * On SQLite and on MariaDB, jobs in the same database: with FerretDB (the MongoDB stand-in) as job
 * store, queueing slows down as a thousand jobs pile up behind one worker (250 in 9 s, 750 in 97 s),
 * a limit of FerretDB's SQLite handler rather than of the product (the other suites cover MongoDB).
 */
describeEachDatabase(
  "release scenario: split, feedback, scheduled optimization, label move",
  (server) => {
  it("runs the closed loop from a 90/10 split to a new version taking the traffic", async function () {
    this.timeout(240_000);
    const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
    // The model gets France wrong: that is what the feedback corrects.
    const { programId, versionId: v1 } = await createProgram(server().url, "scenario", dummyLm({ France: { answer: "Lyon" } }));
    const second = predictDefinition() as { modules: { answerer: { signature: { instructions: string } } } };
    second.modules.answerer.signature.instructions = "Answer with the city only.";
    const v2 = expectData(await run(`mutation($id: ID!, $d: JSON!) { updateProgram(input: { id: $id, definition: $d }) { currentVersion { id } } }`, { id: programId, d: second })).updateProgram.currentVersion.id;
    expectData(await run(SET, { input: { programId, name: "production", routes: [{ versionId: v1, weight: 90 }, { versionId: v2, weight: 10 }] } }));

    // 1. The split: 1,000 executions by distinct routing keys.
    const routed: { id: string; version: string }[] = [];
    const t0 = Date.now();
    const stage = (name: string) => console.log(`      scenario: ${name} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (let i = 0; i < 1000; i += 25) {
      const page = await Promise.all(Array.from({ length: 25 }, (_, j) => run(EXECUTE, { input: { programId, label: "production", routingKey: `user-${i + j}`, inputs: { question: `capital of France? #${i + j}`, n: 1 } } })));
      for (const response of page) {
        const e = expectData(response).executeProgram;
        routed.push({ id: e.id, version: e.version.id });
      }
    }
    const share = routed.filter((r) => r.version === v2).length / routed.length;
    console.log(`      scenario: 1,000 executions split ${(100 - 100 * share).toFixed(1)} / ${(100 * share).toFixed(1)}`);
    assert.ok(Math.abs(share - 0.1) <= 0.03, `v2 got ${(100 * share).toFixed(1)}%`);

    // 2. Feedback: callers correct six answers.
    const corrected = routed.slice(0, 6);
    for (const { id } of corrected) {
      const done = await pollExecution(server().url, id, (e) => e.status === "COMPLETED" || e.status === "FAILED", 120_000);
      assert.deepEqual(done.outputs, { answer: "Lyon" });
      expectData(await run(`mutation($e: ID!) { submitFeedback(input: { executionId: $e, score: 0, correctedOutputs: { answer: "Paris" } }) { id } }`, { e: id }));
    }

    stage("six executions answered and corrected");
    // 3. The feedback becomes a dataset.
    const datasetId = expectData(await run(`mutation { createDataset(input: { name: "scenario-feedback" }) { id } }`)).createDataset.id;
    const added = expectData(await run(`mutation($d: ID!, $p: ID!) { addExamplesFromFeedback(input: { datasetId: $d, programId: $p }) { examples { labels } } }`, { d: datasetId, p: programId })).addExamplesFromFeedback;
    assert.equal(added.examples.length, 6);
    assert.ok(added.examples.every((e: any) => e.labels.answer === "Paris"));

    // 4. A scheduled optimization on it produces a version.
    const schedule = expectData(
      await run(`mutation($input: ScheduleOptimizationInput!) { scheduleOptimization(input: $input) { id } }`, {
        input: { programId, cron: "*/2 * * * * *", promote: "NEVER", optimizer: "LABELED_FEW_SHOT", config: { k: 3 }, datasetId, trainSplit: "TRAIN", metric: { kind: "exact_match", output: "answer", label: "answer" } },
      }),
    ).scheduleOptimization;
    let optimized: any;
    for (const deadline = Date.now() + 120_000; !optimized?.resultVersionId; ) {
      assert.ok(Date.now() < deadline, `no optimization completed: ${JSON.stringify(optimized)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      optimized = expectData(await run(`query($id: ID!) { optimizationSchedule(id: $id) { lastOptimization { status resultVersionId error { code message } } } }`, { id: schedule.id })).optimizationSchedule.lastOptimization;
      assert.notEqual(optimized?.status, "FAILED", JSON.stringify(optimized?.error));
    }
    expectData(await run(`mutation($id: ID!) { unscheduleOptimization(id: $id) { id } }`, { id: schedule.id }));
    stage("the scheduled optimization produced a version");
    const v3 = optimized.resultVersionId;
    const demos = expectData(await run(`query($id: ID!) { programVersion(id: $id) { compiledState } }`, { id: v3 })).programVersion.compiledState.answerer.demos;
    assert.ok(demos.length > 0 && demos.every((d: any) => d.answer === "Paris"), "the new version learned from the corrections");

    // 5. Moving the label switches the traffic to it.
    expectData(await run(SET, { input: { programId, name: "production", versionId: v3 } }));
    const after = await Promise.all(Array.from({ length: 20 }, (_, j) => run(EXECUTE, { input: { programId, label: "production", routingKey: `user-${j}`, inputs: { question: "capital of France?", n: 1 } } })));
    assert.ok(after.every((r) => expectData(r).executeProgram.version.id === v3));
    const ran = expectData(await run(EXECUTE, { input: { programId, label: "production", inputs: { question: "capital of France?", n: 1 }, wait: true, waitTimeoutMs: 60_000 } })).executeProgram;
    assert.deepEqual([ran.status, ran.version.id, ran.label], ["COMPLETED", v3, "production"]);
    stage("traffic moved to the new version");
  });
  },
  { EXECUTE_RATE_LIMIT: "off", WORKERS: "1", OPTIMIZATION_CONCURRENCY: "1", JOB_POLL_MS: "200" },
);
