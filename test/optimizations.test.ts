import assert from "node:assert/strict";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { expectData, expectError, graphql, wsClient } from "./support/graphql.js";
import { createProgram, describeEachStack, dummyLm, EXECUTION_FIELDS, jobsDrained } from "./support/stacks.js";

const FIELDS = `id status optimizer config trainSplit devSplit metric seed score queuedAt startedAt finishedAt version resultVersionId
  progress { phase metricCalls trials bestScore }
  resultVersion { id number source score compiledState dspyState optimization { id } }
  error { code layer message retriable details }`;
const OPTIMIZE = `mutation($input: OptimizeProgramInput!) { optimizeProgram(input: $input) { ${FIELDS} } }`;
const CANCEL = `mutation($id: ID!) { cancelOptimization(id: $id) { ${FIELDS} } }`;
const GET = `query($id: ID!) { optimization(id: $id) { ${FIELDS} } }`;
const PROMOTE = `mutation($v: ID!) { promoteProgramVersion(versionId: $v) { id currentVersion { id number source } } }`;
const IMPORT = `mutation($input: ImportProgramVersionInput!) { importProgramVersion(input: $input) { id number source compiledState dspyState score } }`;
const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { ${EXECUTION_FIELDS} } }`;
const UPDATED = `subscription($id: ID!) { optimizationUpdated(id: $id) { id status version progress { phase metricCalls trials bestScore } } }`;
const TERMINAL = ["COMPLETED", "FAILED", "CANCELLED"];

/** The dummy LM is right for France, Italy, Spain; wrong for Germany (Munich). */
const ANSWERS: Record<string, Record<string, unknown>> = {
  "capital of France": { answer: "Paris" },
  "capital of Italy": { answer: "Rome" },
  "capital of Spain": { answer: "Madrid" },
  "capital of Germany": { answer: "Munich" },
  // What COPRO / MIPROv2 ask their prompt model.
  proposed_instruction: { proposed_instruction: "Answer with the capital city.", proposed_prefix_for_output_field: "Answer:" },
};
const example = (country: string, answer: string, split: string, extraLabels: Record<string, unknown> = {}) => ({ inputs: { question: `capital of ${country}?`, n: 1 }, labels: { answer, ...extraLabels }, split });
const METRIC = { kind: "exact_match", output: "answer", label: "answer" };
const LIGHT: Record<string, Record<string, unknown>> = {
  LABELED_FEW_SHOT: { k: 2 },
  BOOTSTRAP_FEW_SHOT_WITH_RANDOM_SEARCH: { num_candidate_programs: 2, max_bootstrapped_demos: 1, num_threads: 1 },
  COPRO: { breadth: 2, depth: 1 },
  MIPRO_V2: { auto: null, num_candidates: 2, num_trials: 2, max_bootstrapped_demos: 1, max_labeled_demos: 1, num_threads: 1 },
  SIMBA: { bsize: 2, num_candidates: 2, max_steps: 1, num_threads: 1 },
  GEPA: { max_metric_calls: 12, num_threads: 1 },
};

/** optimizeProgram end to end: resolver → optimize-program job → pool → Python worker (DSPy optimizer) → a new version. */
describeEachStack("optimizations through real DSPy workers", { DSPY_ADAPTER: "python", WORKERS: "1", OPTIMIZATION_CONCURRENCY: "1" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  let program: { programId: string; versionId: string; languageModelId: string };
  let slow: { programId: string; versionId: string };
  let datasetId: string;
  /** The same examples with a label the program's signature does not use (LabeledFewShot keeps it in its demos). */
  let regionDatasetId: string;
  let slowLm: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let optimizedVersion: any;

  before(async () => {
    program = await createProgram(server().url, "opt-capitals", dummyLm(ANSWERS));
    slowLm = await startFakeOpenAI(() => ({ fields: { answer: "Paris" }, delayMs: 300 }));
    slow = await createProgram(server().url, "opt-slow", { model: "openai/slow", apiBase: slowLm.url, cache: false });
    const examples = [example("France", "Paris", "TRAIN"), example("Italy", "Rome", "TRAIN"), example("Spain", "Madrid", "TRAIN"), example("Spain", "Madrid", "DEV"), example("Germany", "Berlin", "DEV")];
    datasetId = expectData(await run(`mutation($e: [ExampleInput!]) { createDataset(input: { name: "opt-capitals", examples: $e }) { id } }`, { e: examples })).createDataset.id;
    const regional = examples.map((e) => ({ ...e, labels: { ...e.labels, region: "Europe" } }));
    regionDatasetId = expectData(await run(`mutation($e: [ExampleInput!]) { createDataset(input: { name: "opt-capitals-regions", examples: $e }) { id } }`, { e: regional })).createDataset.id;
  });
  after(async () => {
    await slowLm?.close();
  });

  const optimize = async (input: Record<string, unknown>) =>
    expectData(await run(OPTIMIZE, { input: { programId: program.programId, optimizer: "BOOTSTRAP_FEW_SHOT", config: { max_bootstrapped_demos: 2, max_labeled_demos: 0 }, datasetId, trainSplit: "TRAIN", metric: METRIC, ...input } })).optimizeProgram;

  async function poll(id: string, done: (o: any) => boolean, timeoutMs = 60_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const optimization = expectData(await run(GET, { id })).optimization;
      if (done(optimization)) return optimization;
      if (Date.now() > deadline) throw new Error(`optimization never reached the expected state; last: ${JSON.stringify(optimization)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const current = async () => expectData(await run(`query($p: ID!) { program(id: $p) { currentVersion { id number } } }`, { p: program.programId })).program.currentVersion;
  const execute = async (question: string) => {
    const done = expectData(await run(EXECUTE, { input: { programId: program.programId, inputs: { question, n: 1 }, wait: true } })).executeProgram;
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    return done;
  };

  it("BOOTSTRAP_FEW_SHOT: COMPLETED, a new version with the bootstrapped demos, scored on the dev split, not current", async () => {
    const queued = await optimize({ devSplit: "DEV", seed: 7 });
    assert.equal(queued.status, "PENDING");
    assert.deepEqual(queued.progress, { phase: null, metricCalls: 0, trials: 0, bestScore: null });
    const done = await poll(queued.id, (o) => TERMINAL.includes(o.status));
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    assert.equal(done.score, 50, "Spain right, Germany wrong");
    assert.equal(done.progress.phase, "done");
    assert.ok(done.progress.metricCalls > 0);
    const version = done.resultVersion;
    assert.equal(version.id, done.resultVersionId);
    assert.equal(version.number, 2);
    assert.equal(version.source, "OPTIMIZATION");
    assert.equal(version.score, 50);
    assert.equal(version.optimization.id, done.id);
    assert.deepEqual(
      version.compiledState.answerer.demos.map((d: any) => [d.question, d.answer]),
      [["capital of France?", "Paris"], ["capital of Italy?", "Rome"]],
    );
    const { metadata, ...saved } = version.dspyState;
    assert.deepEqual(saved, version.compiledState);
    assert.ok(metadata.dependency_versions.dspy);
    assert.equal((await current()).number, 1, "an optimization does not make its version current");
    const listed = expectData(await run(`query($p: ID!) { optimizations(programId: $p, first: 10) { totalCount } program(id: $p) { optimizations(first: 10) { totalCount } } }`, { p: program.programId }));
    assert.ok(listed.optimizations.totalCount >= 1);
    assert.equal(listed.program.optimizations.totalCount, listed.optimizations.totalCount);
    const entities = expectData(await run(`query($r: [_Any!]!) { _entities(representations: $r) { ... on Optimization { id score optimizer } } }`, { r: [{ __typename: "Optimization", id: done.id }] }))._entities;
    assert.deepEqual(entities[0], { id: done.id, score: 50, optimizer: "BOOTSTRAP_FEW_SHOT" });
    optimizedVersion = version;
  });

  it("promoting it makes executions run it (a worker that never saw it is rehydrated: demos in the prompt); promoting version 1 rolls back", async () => {
    assert.ok(optimizedVersion, "needs the optimization above");
    const promoted = expectData(await run(PROMOTE, { v: optimizedVersion.id })).promoteProgramVersion;
    assert.deepEqual(promoted.currentVersion, { id: optimizedVersion.id, number: 2, source: "OPTIMIZATION" });
    const withDemos = await execute("capital of Spain?");
    assert.deepEqual(withDemos.outputs, { answer: "Madrid" });
    const messages = JSON.stringify(withDemos.trace[0].lm_calls[0].messages);
    assert.match(messages, /capital of France\?/);
    assert.match(messages, /capital of Italy\?/);
    const v1 = expectData(await run(`query($p: ID!) { program(id: $p) { versions(first: 1) { edges { node { id number } } } } }`, { p: program.programId })).program.versions.edges[0].node;
    assert.equal(v1.number, 1);
    const rolledBack = expectData(await run(PROMOTE, { v: v1.id })).promoteProgramVersion;
    assert.equal(rolledBack.currentVersion.number, 1);
    const plain = await execute("capital of Spain?");
    assert.doesNotMatch(JSON.stringify(plain.trace[0].lm_calls[0].messages), /capital of France/);
    expectError(await run(PROMOTE, { v: "00000000-0000-7000-8000-000000000000" }), "NOT_FOUND", "versionId");
  });

  it("imports the exported dspyState as a new version; a tampered one is BAD_USER_INPUT with its path", async () => {
    assert.ok(optimizedVersion, "needs the optimization above");
    const imported = expectData(await run(IMPORT, { input: { programId: program.programId, dspyState: optimizedVersion.dspyState } })).importProgramVersion;
    assert.equal(imported.source, "IMPORT");
    assert.deepEqual(imported.compiledState, optimizedVersion.compiledState);
    assert.deepEqual(imported.dspyState, optimizedVersion.dspyState);
    assert.ok(imported.number > optimizedVersion.number);
    const tampered = structuredClone(optimizedVersion.dspyState);
    tampered.answerer.lm = { model: "openai/gpt-4o-mini" };
    const error = expectError(await run(IMPORT, { input: { programId: program.programId, dspyState: tampered } }), "BAD_USER_INPUT", "input.dspyState.answerer.lm");
    assert.match(error.message, /must be null/);
    const other = structuredClone(optimizedVersion.dspyState);
    other.extra = other.answerer;
    expectError(await run(IMPORT, { input: { programId: program.programId, dspyState: other } }), "BAD_USER_INPUT", "input.dspyState.extra");
  });

  it("streams the current state, then progress and transitions in order, over graphql-ws", async () => {
    const queued = expectData(
      await run(OPTIMIZE, { input: { programId: slow.programId, optimizer: "BOOTSTRAP_FEW_SHOT", config: { max_bootstrapped_demos: 1, max_labeled_demos: 0 }, datasetId, trainSplit: "TRAIN", devSplit: "DEV", metric: METRIC } }),
    ).optimizeProgram;
    const client = wsClient(server().wsUrl);
    const seen: any[] = [];
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no terminal state: ${JSON.stringify(seen)}`)), 60_000);
        const stop = client.subscribe<any>({ query: UPDATED, variables: { id: queued.id } }, {
          next: (value) => {
            if (value.errors) return reject(new Error(JSON.stringify(value.errors)));
            const update = value.data?.optimizationUpdated;
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
    assert.equal(seen[seen.length - 1].status, "COMPLETED", JSON.stringify(seen));
    const phases = ["compile", "evaluate", "done"];
    const rank = (u: any) => [u.version, u.progress.phase === null ? 0 : phases.indexOf(u.progress.phase) + 1, u.progress.metricCalls, u.progress.trials];
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [rank(seen[i - 1]), rank(seen[i])];
      const k = a.findIndex((x, j) => x !== b[j]);
      assert.ok(k >= 0 && b[k] > a[k], `in order: ${JSON.stringify(seen)}`);
    }
    const running = seen.filter((u) => u.status === "RUNNING" && u.progress.phase !== null).map((u) => u.progress.phase);
    assert.ok(running.includes("compile") && running.includes("evaluate"), `progress phases while running: ${JSON.stringify(seen)}`);
  });

  it("refuses a bad metric, config, optimizer or split before writing anything (no row, no audit event, no job)", async () => {
    const counts = async () => ({
      optimizations: await server().countRows("optimization"),
      versions: await server().countRows("program_version"),
      audit: await server().countRows("audit_event"),
      jobs: await server().jobs.countJobs("optimize-program"),
    });
    await jobsDrained(server(), "optimize-program"); // the previous test's
    const before = await counts();
    const refused = (code: string, path: string, input: Record<string, unknown>) =>
      run(OPTIMIZE, { input: { programId: program.programId, optimizer: "BOOTSTRAP_FEW_SHOT", datasetId, trainSplit: "TRAIN", metric: METRIC, ...input } }).then((r) => expectError(r, code, path).message);
    assert.match(await refused("BAD_USER_INPUT", "input.metric.output", { metric: { ...METRIC, output: "city" } }), /city/);
    assert.match(await refused("BAD_USER_INPUT", "input.metric.label", { metric: { ...METRIC, label: "country" } }), /country/);
    assert.match(await refused("BAD_USER_INPUT", "input.config.depth", { config: { depth: 2 } }), /BOOTSTRAP_FEW_SHOT takes no 'depth'/);
    await refused("BAD_USER_INPUT", "input.config.max_rounds", { config: { max_rounds: 0 } });
    await refused("BAD_USER_INPUT", "input.config.num_trials", { optimizer: "MIPRO_V2", config: { num_trials: 3 } });
    await refused("BAD_USER_INPUT", "input.config", { optimizer: "GEPA", config: {}, reflectionLanguageModelId: program.languageModelId });
    await refused("BAD_USER_INPUT", "input.reflectionLanguageModelId", { optimizer: "GEPA", config: { auto: "light" } });
    await refused("BAD_USER_INPUT", "input.reflectionLanguageModelId", { reflectionLanguageModelId: program.languageModelId });
    await refused("BAD_USER_INPUT", "input.config.bsize", { optimizer: "SIMBA", config: { bsize: 10 } });
    await refused("BAD_USER_INPUT", "input.trainSplit", { trainSplit: "TEST" });
    await refused("BAD_USER_INPUT", "input.devSplit", { devSplit: "TRAIN" });
    await refused("NOT_FOUND", "input.programId", { programId: "00000000-0000-7000-8000-000000000000" });
    await refused("NOT_FOUND", "input.datasetId", { datasetId: "00000000-0000-7000-8000-000000000000" });
    const badEnum = await run(OPTIMIZE, { input: { programId: program.programId, optimizer: "ADAM", datasetId, trainSplit: "TRAIN", metric: METRIC } });
    assert.ok(badEnum.errors?.length);
    assert.deepEqual(await counts(), before);
  });

  it("cancels a PENDING optimization (and a RUNNING one); nothing is created for them", async () => {
    const slowInput = { programId: slow.programId, optimizer: "BOOTSTRAP_FEW_SHOT", config: { max_bootstrapped_demos: 1, max_labeled_demos: 0 }, datasetId, trainSplit: "TRAIN", devSplit: "DEV", metric: METRIC };
    const first = expectData(await run(OPTIMIZE, { input: slowInput })).optimizeProgram;
    const second = await optimize({});
    const running = await poll(first.id, (o) => o.status === "RUNNING");
    assert.equal(expectData(await run(GET, { id: second.id })).optimization.status, "PENDING");
    const cancelledPending = expectData(await run(CANCEL, { id: second.id })).cancelOptimization;
    assert.equal(cancelledPending.status, "CANCELLED");
    assert.ok(cancelledPending.finishedAt);
    const cancelledRunning = expectData(await run(CANCEL, { id: running.id })).cancelOptimization;
    assert.equal(cancelledRunning.status, "CANCELLED");
    expectError(await run(CANCEL, { id: second.id }), "ILLEGAL_TRANSITION", "id");
    const next = await poll((await optimize({})).id, (o) => TERMINAL.includes(o.status), 30_000);
    assert.equal(next.status, "COMPLETED", JSON.stringify(next.error));
    for (const id of [first.id, second.id]) {
      const after = expectData(await run(GET, { id })).optimization;
      assert.equal(after.status, "CANCELLED");
      assert.equal(after.resultVersionId, null);
      assert.equal(after.score, null);
    }
  });

  it("runs on workers of its own (OPTIMIZATION_WORKERS): executions keep their latency while a slow optimization is RUNNING", async () => {
    const workersOf = async (adapter: { health(): Promise<{ details: unknown }> }) => ((await adapter.health()).details as { workers: { pid: number; busy: number }[] }).workers;
    const mainWorkers = await workersOf(server().adapter);
    const optimizationWorkers = await workersOf(server().optimizationAdapter);
    assert.notEqual(server().optimizationAdapter, server().adapter);
    assert.equal(mainWorkers.length, 1);
    assert.equal(optimizationWorkers.length, 1);
    assert.notEqual(optimizationWorkers[0].pid, mainWorkers[0].pid, "distinct pools, distinct worker processes");
    const latencies = async (n: number) => {
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        const started = performance.now();
        await execute("capital of Italy?");
        ms.push(performance.now() - started);
      }
      return ms.sort((a, b) => a - b)[Math.floor(n / 2)];
    };
    await latencies(3); // warm
    const idleP50 = await latencies(10);
    const verySlowLm = await startFakeOpenAI(() => ({ fields: { answer: "Paris" }, delayMs: 1_500 }));
    try {
      const verySlow = await createProgram(server().url, "opt-very-slow", { model: "openai/very-slow", apiBase: verySlowLm.url, cache: false });
      const queued = expectData(
        await run(OPTIMIZE, { input: { programId: verySlow.programId, optimizer: "BOOTSTRAP_FEW_SHOT", config: { max_bootstrapped_demos: 3, max_labeled_demos: 0 }, datasetId, trainSplit: "TRAIN", devSplit: "DEV", metric: METRIC } }),
      ).optimizeProgram;
      await poll(queued.id, (o) => o.status === "RUNNING" && o.progress.phase !== null);
      const busyP50 = await latencies(10);
      const during = expectData(await run(GET, { id: queued.id })).optimization;
      assert.equal(during.status, "RUNNING", "the executions completed while the optimization ran");
      assert.ok((await workersOf(server().optimizationAdapter))[0].busy > 0, "the optimization holds its own worker");
      assert.equal((await workersOf(server().adapter))[0].busy, 0, "not the executions' worker");
      console.log(`      execution latency p50: ${idleP50.toFixed(1)} ms idle, ${busyP50.toFixed(1)} ms while an optimization is RUNNING`);
      assert.ok(busyP50 < Math.max(1_000, idleP50 * 10), `p50 ${busyP50} ms while optimizing vs ${idleP50} ms idle`);
      assert.equal(expectData(await run(CANCEL, { id: queued.id })).cancelOptimization.status, "CANCELLED");
    } finally {
      await verySlowLm.close();
    }
  });

  it("deleteProgram is a CONFLICT at id while an optimization or evaluation of it is PENDING or RUNNING", async () => {
    const doomed = await createProgram(server().url, "opt-doomed", { model: "openai/slow", apiBase: slowLm.url, cache: false });
    const DELETE = `mutation($id: ID!) { deleteProgram(id: $id) }`;
    const optimization = expectData(
      await run(OPTIMIZE, { input: { programId: doomed.programId, optimizer: "BOOTSTRAP_FEW_SHOT", config: { max_bootstrapped_demos: 1, max_labeled_demos: 0 }, datasetId, trainSplit: "TRAIN", devSplit: "DEV", metric: METRIC } }),
    ).optimizeProgram;
    assert.match(expectError(await run(DELETE, { id: doomed.programId }), "CONFLICT", "id").message, /1 optimization/);
    expectData(await run(CANCEL, { id: optimization.id }));
    const evaluation = expectData(
      await run(`mutation($input: EvaluateProgramInput!) { evaluateProgram(input: $input) { id status } }`, { input: { versionId: doomed.versionId, datasetId, split: "DEV", metric: METRIC } }),
    ).evaluateProgram;
    assert.match(expectError(await run(DELETE, { id: doomed.programId }), "CONFLICT", "id").message, /1 pending or running evaluation/);
    expectData(await run(`mutation($id: ID!) { cancelEvaluation(id: $id) { id status } }`, { id: evaluation.id }));
    assert.equal(expectData(await run(DELETE, { id: doomed.programId })).deleteProgram, doomed.programId);
  });

  for (const [optimizer, config] of Object.entries(LIGHT)) {
    it(`${optimizer}: a light run completes with a new version, whose dspyState imports back unchanged and runs`, async () => {
      const extra = optimizer === "GEPA" ? { reflectionLanguageModelId: program.languageModelId } : {};
      const done = await poll((await optimize({ optimizer, config, seed: 0, datasetId: regionDatasetId, ...extra })).id, (o) => TERMINAL.includes(o.status), 90_000);
      assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
      assert.equal(done.score, 100);
      const version = done.resultVersion;
      assert.equal(version.source, "OPTIMIZATION");
      assert.deepEqual(Object.keys(version.compiledState), ["answerer"]);
      if (optimizer === "LABELED_FEW_SHOT") assert.ok(version.dspyState.answerer.demos.every((d: any) => d.region === "Europe"), "the demos carry the unused label");

      const imported = expectData(await run(IMPORT, { input: { programId: program.programId, dspyState: version.dspyState } })).importProgramVersion;
      assert.equal(imported.source, "IMPORT");
      assert.deepEqual(imported.dspyState, version.dspyState);
      assert.deepEqual(imported.compiledState, version.compiledState);
      const ran = expectData(await run(EXECUTE, { input: { programId: program.programId, versionId: imported.id, inputs: { question: "capital of Spain?", n: 1 }, wait: true } })).executeProgram;
      assert.equal(ran.status, "COMPLETED", JSON.stringify(ran.error));
      assert.deepEqual(ran.outputs, { answer: "Madrid" });
    });
  }
  it("scheduleOptimization: a per-second cron runs it through the scheduler and promotes IF_BETTER; a bad cron is BAD_USER_INPUT at input.cron", async () => {
    const SCHEDULE = `mutation($input: ScheduleOptimizationInput!) { scheduleOptimization(input: $input) { id cron promote enabled lastRunAt lastOptimizationId } }`;
    const GET_SCHEDULE = `query($id: ID!) { optimizationSchedule(id: $id) { id enabled lastRunAt lastOptimization { id status score resultVersionId } } }`;
    const scheduled = await createProgram(server().url, "opt-scheduled", dummyLm(ANSWERS));
    const currentOf = async (p: string) => expectData(await run(`query($p: ID!) { program(id: $p) { currentVersion { id number score } } }`, { p })).program.currentVersion;
    const base = { programId: scheduled.programId, optimizer: "BOOTSTRAP_FEW_SHOT", config: { max_bootstrapped_demos: 2, max_labeled_demos: 0 }, datasetId, trainSplit: "TRAIN", devSplit: "DEV", metric: METRIC };
    expectError(await run(SCHEDULE, { input: { ...base, cron: "every monday" } }), "BAD_USER_INPUT", "input.cron");
    expectError(await run(SCHEDULE, { input: { ...base, cron: "0 3 * * 1", timezone: "Mars/Olympus" } }), "BAD_USER_INPUT", "input.timezone");
    expectError(await run(SCHEDULE, { input: { ...base, cron: "0 3 * * 1", trainSplit: "TEST" } }), "BAD_USER_INPUT", "input.trainSplit");
    const until = async (id: string, done: (s: any) => boolean) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const s = expectData(await run(GET_SCHEDULE, { id })).optimizationSchedule;
        if (done(s)) return s;
        if (Date.now() > deadline) throw new Error(`schedule never got there: ${JSON.stringify(s)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const UNSCHEDULE = `mutation($id: ID!) { unscheduleOptimization(id: $id) { id enabled } }`;
    // The current version (1) has no score: any COMPLETED run beats it.
    const first = expectData(await run(SCHEDULE, { input: { ...base, cron: "*/2 * * * * *" } })).scheduleOptimization;
    assert.deepEqual([first.promote, first.enabled, first.lastRunAt], ["IF_BETTER", true, null]);
    const ran = await until(first.id, (s) => s.lastOptimization?.status === "COMPLETED");
    assert.equal(expectData(await run(UNSCHEDULE, { id: first.id })).unscheduleOptimization.enabled, false);
    assert.ok(ran.lastRunAt);
    assert.equal(ran.lastOptimization.score, 50);
    const deadline = Date.now() + 10_000;
    while ((await currentOf(scheduled.programId)).id !== ran.lastOptimization.resultVersionId && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const promoted = await currentOf(scheduled.programId);
    assert.equal(promoted.id, ran.lastOptimization.resultVersionId, "IF_BETTER: a scored version beats an unscored one");
    assert.equal(promoted.score, 50);
    // Now the current version scores 50; another run scores 50 too, which does not beat it.
    const second = expectData(await run(SCHEDULE, { input: { ...base, cron: "*/2 * * * * *" } })).scheduleOptimization;
    const again = await until(second.id, (s) => s.lastOptimization?.status === "COMPLETED");
    expectData(await run(UNSCHEDULE, { id: second.id }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(again.lastOptimization.score, 50);
    assert.equal((await currentOf(scheduled.programId)).id, promoted.id, "IF_BETTER: an equal score is not promoted");
    assert.equal(await server().jobs.countJobs("scheduled-optimization"), 0, "unscheduling removes the jobs");
  });
});
