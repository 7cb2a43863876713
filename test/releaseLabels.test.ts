import assert from "node:assert/strict";
import { assertNoInternals, collect, expectData, expectError, graphql, wsClient } from "./support/graphql.js";
import { createProgram, describeEachStack, dummyLm, pollExecution, predictDefinition } from "./support/stacks.js";

const SET = `mutation($input: SetProgramLabelInput!) { setProgramLabel(input: $input) { programId name routes { versionId weight share } versions { id number } } }`;
const DELETE = `mutation($p: ID!, $n: String!) { deleteProgramLabel(programId: $p, name: $n) }`;
const LABELS = `query($id: ID!) { program(id: $id) { currentVersion { id } labels { name routes { versionId weight share } } } }`;
const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { id status label routingKey version: programVersion { id } } }`;
const UPDATE = `mutation($id: ID!, $d: JSON!) { updateProgram(input: { id: $id, definition: $d }) { currentVersion { id } } }`;

/** A second version: the same program with other instructions (updateProgram makes it current). */
function secondDefinition(): Record<string, unknown> {
  const d = predictDefinition() as { modules: { answerer: { signature: { instructions: string } } } };
  d.modules.answerer.signature.instructions = "Answer in one word.";
  return d;
}

describeEachStack("release labels: setProgramLabel, executeProgram(label:), splits", { EXECUTE_RATE_LIMIT: "off" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  let programId: string;
  let v1: string;
  let v2: string;
  const execute = async (input: Record<string, unknown>) => expectData(await run(EXECUTE, { input: { programId, inputs: { question: "capital of France?", n: 1 }, ...input } })).executeProgram;
  const counts = async () => ({
    labels: await server().countRows("program_label"),
    executions: await server().countRows("execution"),
    audit: await server().countRows("audit_event"),
  });

  before(async () => {
    ({ programId, versionId: v1 } = await createProgram(server().url, "labelled", dummyLm({ France: { answer: "Paris" } })));
    v2 = expectData(await run(UPDATE, { id: programId, d: secondDefinition() })).updateProgram.currentVersion.id;
  });

  it("points a label at a version; executeProgram(label:) runs it and records the label; moving the label switches traffic", async () => {
    const set = expectData(await run(SET, { input: { programId, name: "production", versionId: v1 } })).setProgramLabel;
    assert.deepEqual(set, { programId, name: "production", routes: [{ versionId: v1, weight: 1, share: 1 }], versions: [{ id: v1, number: 1 }] });
    const labels = expectData(await run(LABELS, { id: programId })).program.labels;
    assert.deepEqual(labels.map((l: any) => [l.name, l.routes.map((r: any) => r.versionId)]), [["current", [v2]], ["production", [v1]]]);
    const before = await execute({ label: "production", wait: true });
    assert.deepEqual([before.status, before.label, before.version.id], ["COMPLETED", "production", v1]);
    expectData(await run(SET, { input: { programId, name: "production", versionId: v2 } }));
    const after = await execute({ label: "production" });
    assert.equal(after.version.id, v2);
    const unlabelled = await execute({});
    assert.deepEqual([unlabelled.label, unlabelled.version.id], [null, v2], "no label: the current version, as before");
  });

  it("splits a label by weight; a routing key always gets the same version", async () => {
    const split = expectData(await run(SET, { input: { programId, name: "canary", routes: [{ versionId: v1, weight: 3 }, { versionId: v2, weight: 1 }] } })).setProgramLabel;
    assert.deepEqual(split.routes, [{ versionId: v1, weight: 3, share: 0.75 }, { versionId: v2, weight: 1, share: 0.25 }]);
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) seen.add((await execute({ label: "canary", routingKey: "user-42" })).version.id);
    assert.equal(seen.size, 1, "sticky");
    const chosen = [];
    for (let i = 0; i < 40; i++) chosen.push((await execute({ label: "canary", routingKey: `user-${i}` })).version.id);
    assert.ok(chosen.includes(v1) && chosen.includes(v2), "both versions get traffic");
    const recorded = await execute({ label: "canary", routingKey: "user-7" });
    assert.deepEqual([recorded.label, recorded.routingKey], ["canary", "user-7"]);
  });

  it("a batch runs by label too: one version for the whole batch, the label on each execution", async () => {
    const BATCH = `mutation($input: ExecuteProgramBatchInput!) { executeProgramBatch(input: $input) { id total executions(first: 10) { edges { node { label routingKey version: programVersion { id } } } } } }`;
    const batch = expectData(await run(BATCH, { input: { programId, label: "canary", routingKey: "team-a", inputs: [{ question: "a", n: 1 }, { question: "b", n: 2 }, { question: "c", n: 3 }] } })).executeProgramBatch;
    const nodes = batch.executions.edges.map((e: any) => e.node);
    assert.equal(nodes.length, 3);
    assert.equal(new Set(nodes.map((n: any) => n.version.id)).size, 1, "one version for the batch");
    assert.ok(nodes.every((n: any) => n.label === "canary" && n.routingKey === "team-a"));
    const sticky = expectData(await run(BATCH, { input: { programId, label: "canary", routingKey: "team-a", inputs: [{ question: "d", n: 1 }] } })).executeProgramBatch;
    assert.equal(sticky.executions.edges[0].node.version.id, nodes[0].version.id);
    const before = await counts();
    expectError(await run(BATCH, { input: { programId, label: "canary", versionId: v1, inputs: [{ question: "a", n: 1 }] } }), "BAD_USER_INPUT", "input.label");
    expectError(await run(BATCH, { input: { programId, label: "nope", inputs: [{ question: "a", n: 1 }] } }), "BAD_USER_INPUT", "input.label");
    assert.deepEqual(await counts(), before);
  });

  it("setting `current` promotes (one version only); `current` cannot be deleted; a label is deleted", async () => {
    const promoted = expectData(await run(SET, { input: { programId, name: "current", versionId: v1 } })).setProgramLabel;
    assert.deepEqual(promoted.routes.map((r: any) => r.versionId), [v1]);
    assert.equal(expectData(await run(LABELS, { id: programId })).program.currentVersion.id, v1);
    expectData(await run(SET, { input: { programId, name: "current", versionId: v2 } }));
    const refused = expectError(await run(SET, { input: { programId, name: "current", routes: [{ versionId: v1, weight: 1 }, { versionId: v2, weight: 1 }] } }), "BAD_USER_INPUT", "input.routes");
    assert.match(refused.message, /points at one version/);
    expectError(await run(DELETE, { p: programId, n: "current" }), "BAD_USER_INPUT", "name");
    expectData(await run(SET, { input: { programId, name: "temp", versionId: v1 } }));
    assert.equal(expectData(await run(DELETE, { p: programId, n: "temp" })).deleteProgramLabel, true);
    expectError(await run(EXECUTE, { input: { programId, inputs: { question: "x", n: 1 }, label: "temp" } }), "BAD_USER_INPUT", "input.label");
  });

  it("refuses bad labels with a path and a reason, writing nothing", async () => {
    const { programId: other, versionId: otherVersion } = await createProgram(server().url, "other-labelled", dummyLm({ x: { answer: "y" } }));
    const before = await counts();
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ programId, name: "Bad Name", versionId: v1 }, "input.name", /lower-case letters/],
      [{ programId, name: "", versionId: v1 }, "input.name", /1–64/],
      [{ programId, name: "x".repeat(65), versionId: v1 }, "input.name", /1–64/],
      [{ programId, name: "both", versionId: v1, routes: [{ versionId: v2, weight: 1 }] }, "input.routes", /not both/],
      [{ programId, name: "neither" }, "input.versionId", /versionId.*routes/],
      [{ programId, name: "empty", routes: [] }, "input.routes", /1–10 versions/],
      [{ programId, name: "zero", routes: [{ versionId: v1, weight: 0 }] }, "input.routes[0].weight", /whole number from 1 to 10000, got 0/],
      [{ programId, name: "huge", routes: [{ versionId: v1, weight: 10_001 }] }, "input.routes[0].weight", /got 10001/],
      [{ programId, name: "twice", routes: [{ versionId: v1, weight: 1 }, { versionId: v1, weight: 2 }] }, "input.routes[1].versionId", /listed twice/],
      [{ programId, name: "foreign", routes: [{ versionId: v1, weight: 1 }, { versionId: otherVersion, weight: 1 }] }, "input.routes[1].versionId", /no version/],
      [{ programId, name: "unknown", versionId: "00000000-0000-7000-8000-000000000000" }, "input.versionId", /no version/],
      [{ programId: "00000000-0000-7000-8000-000000000000", name: "ok", versionId: v1 }, "input.programId", /not found/],
    ];
    for (const [input, path, reason] of cases) {
      const response = await run(SET, { input });
      const error = response.errors?.[0];
      assert.ok(error, `${JSON.stringify(input)} was accepted`);
      const issues = (error.extensions?.issues as { path: string; reason: string }[] | undefined) ?? [{ path: error.extensions?.path as string, reason: error.message }];
      assert.ok(issues.some((i) => i.path === path && reason.test(i.reason)), `${JSON.stringify(input)}: ${JSON.stringify(error)}`);
      assertNoInternals(JSON.stringify(response));
    }
    const tooMany = Array.from({ length: 11 }, () => ({ versionId: v1, weight: 1 }));
    expectError(await run(SET, { input: { programId, name: "many", routes: tooMany } }), "BAD_USER_INPUT");
    assert.deepEqual(await counts(), before, "nothing written");
    assert.ok(other);
  });

  it("refuses bad executeProgram routing with a path and a reason, writing nothing", async () => {
    const before = await counts();
    const input = { programId, inputs: { question: "x", n: 1 } };
    expectError(await run(EXECUTE, { input: { ...input, label: "production", versionId: v1 } }), "BAD_USER_INPUT", "input.label");
    expectError(await run(EXECUTE, { input: { ...input, label: "no-such-label" } }), "BAD_USER_INPUT", "input.label");
    expectError(await run(EXECUTE, { input: { ...input, label: "Not A Label" } }), "BAD_USER_INPUT", "input.label");
    expectError(await run(EXECUTE, { input: { ...input, label: "production", routingKey: "k".repeat(201) } }), "BAD_USER_INPUT", "input.routingKey");
    expectError(await run(EXECUTE, { input: { ...input, label: "production", routingKey: "" } }), "BAD_USER_INPUT", "input.routingKey");
    expectError(await run(EXECUTE, { input: { ...input, label: "production", routingKey: "a\u0000b" } }), "BAD_USER_INPUT", "input.routingKey");
    assert.deepEqual(await counts(), before, "nothing written");
  });

  it("the same idempotency key with the same labelled request returns the same execution, whatever version it chose", async () => {
    const first = await execute({ label: "canary", idempotencyKey: "label-idem-1" });
    for (let i = 0; i < 5; i++) assert.equal((await execute({ label: "canary", idempotencyKey: "label-idem-1" })).id, first.id);
    expectError(await run(EXECUTE, { input: { programId, inputs: { question: "capital of France?", n: 1 }, label: "production", idempotencyKey: "label-idem-1" } }), "CONFLICT");
  });

  it("Program.versionStats and the dspy_program_version_* series: each version's executions, errors, latency and tokens", async () => {
    const done = await execute({ label: "production", wait: true });
    assert.equal(done.status, "COMPLETED");
    const query = `query($id: ID!, $w: Int) { program(id: $id) { versionStats(windowMinutes: $w) { versionId version { number } executions completed failed cancelled unfinished errorRate latencyP50Ms latencyP95Ms totalTokens feedbackCount feedbackScore } } }`;
    const stats = expectData(await run(query, { id: programId, w: 60 })).program.versionStats;
    const listed = expectData(await run(`query($p: ID!) { executions(programId: $p, first: 100) { edges { node { status version: programVersion { id } } } } }`, { p: programId })).executions.edges.map((e: any) => e.node);
    for (const versionId of [v1, v2]) {
      const row = stats.find((s: any) => s.versionId === versionId);
      const mine = listed.filter((e: any) => e.version.id === versionId);
      assert.equal(row.executions, mine.length, versionId);
      assert.equal(row.completed, mine.filter((e: any) => e.status === "COMPLETED").length);
      assert.equal(row.completed + row.failed + row.cancelled + row.unfinished, row.executions);
      assert.equal(row.version.number, versionId === v1 ? 1 : 2);
      if (row.completed > 0) assert.ok(row.latencyP50Ms >= 0 && row.latencyP95Ms >= row.latencyP50Ms);
      assert.equal(row.errorRate, row.completed + row.failed > 0 ? row.failed / (row.completed + row.failed) : null);
    }
    expectError(await run(query, { id: programId, w: 0 }), "BAD_USER_INPUT", "windowMinutes");
    const metrics = await (await fetch(server().url.replace("/graphql", "/metrics"))).text();
    const line = metrics.split("\n").find((l) => l.startsWith("dspy_program_version_executions_total") && l.includes(`program_id="${programId}"`) && l.includes('label="production"') && l.includes('status="COMPLETED"'));
    assert.ok(line && Number(line.split(" ").pop()) >= 1, "the per-version series counts it");
    assert.ok(metrics.includes(`dspy_program_version_latency_seconds_count{program_id="${programId}"`));
  });

  it("a label move is published on programChanged", async () => {
    const client = wsClient(server().url.replace(/^http/, "ws"));
    try {
      const changes = collect<any>(client, `subscription($id: ID!) { programChanged(id: $id) { kind program { labels { name routes { versionId } } } } }`, { id: programId }, 1);
      await changes.ready;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expectData(await run(SET, { input: { programId, name: "staging", versionId: v1 } }));
      const [change] = await changes.done;
      assert.equal(change.programChanged.kind, "UPDATED");
      assert.ok(change.programChanged.program.labels.some((l: any) => l.name === "staging"));
    } finally {
      await client.dispose();
    }
  });
});

describeEachStack("release labels: a 90/10 split", { EXECUTE_RATE_LIMIT: "off", JOB_CONCURRENCY: "16" }, (server) => {
  it("1,000 executions by distinct routing keys land within 3 points of 90/10; moving the label sends them all to one version", async function () {
    this.timeout(180_000);
    const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
    const { programId, versionId: v1 } = await createProgram(server().url, "split", dummyLm({ France: { answer: "Paris" } }));
    const v2 = expectData(await run(UPDATE, { id: programId, d: secondDefinition() })).updateProgram.currentVersion.id;
    expectData(await run(SET, { input: { programId, name: "production", routes: [{ versionId: v1, weight: 90 }, { versionId: v2, weight: 10 }] } }));
    const versions: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 1000; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, (_, j) => run(EXECUTE, { input: { programId, inputs: { question: "capital of France?", n: 1 }, label: "production", routingKey: `customer-${i + j}` } })));
      for (const response of batch) {
        const execution = expectData(response).executeProgram;
        versions.push(execution.version.id);
        ids.push(execution.id);
      }
    }
    const share = versions.filter((v) => v === v2).length / versions.length;
    console.log(`      90/10 split over 1,000 routing keys: ${(100 - share * 100).toFixed(1)} / ${(share * 100).toFixed(1)}`);
    assert.ok(Math.abs(share - 0.1) <= 0.03, `v2 got ${(share * 100).toFixed(1)}%`);
    expectData(await run(SET, { input: { programId, name: "production", versionId: v2 } }));
    const moved = await Promise.all(Array.from({ length: 20 }, (_, j) => run(EXECUTE, { input: { programId, inputs: { question: "capital of France?", n: 1 }, label: "production", routingKey: `customer-${j}` } })));
    assert.ok(moved.every((r) => expectData(r).executeProgram.version.id === v2));
    // They run: the last one completes on the version it was routed to.
    const last = await pollExecution(server().url, ids[ids.length - 1]!, (e) => e.status === "COMPLETED", 120_000);
    assert.deepEqual(last.outputs, { answer: "Paris" });
  });
});
