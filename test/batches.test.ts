import assert from "node:assert/strict";
import { collect, expectData, expectError, graphql, wsClient } from "./support/graphql.js";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { createProgram, describeEachStack, dummyLm, FAST_JOBS } from "./support/stacks.js";

const BATCH_FIELDS = "id programId programVersionId total status pending running completed failed cancelled idempotencyKey cancelledAt";
const EXECUTE_BATCH = `mutation($input: ExecuteProgramBatchInput!) { executeProgramBatch(input: $input) { ${BATCH_FIELDS} } }`;
const BATCH = `query($id: ID!) { batch(id: $id) { ${BATCH_FIELDS} executions(first: 100) { edges { node { id batchId status inputs outputs } } } } }`;
const CANCEL_BATCH = `mutation($id: ID!) { cancelBatch(id: $id) { ${BATCH_FIELDS} } }`;
const BATCH_UPDATED = `subscription($id: ID!) { batchUpdated(id: $id) { ${BATCH_FIELDS} } }`;

const questions = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ question: `Capital of France? (${from + i})`, n: from + i }));

describeEachStack("executeProgramBatch", { ...FAST_JOBS, JOB_CONCURRENCY: "4", EXECUTE_RATE_LIMIT: "off" }, (server, stack) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  let programId: string;

  before(async () => {
    ({ programId } = await createProgram(server().url, "batched", dummyLm({ France: { answer: "Paris" } })));
  });

  async function finished(id: string): Promise<any> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const batch = expectData(await run(BATCH, { id })).batch;
      if (batch.status !== "RUNNING") return batch;
      if (Date.now() > deadline) throw new Error(`batch never finished: ${JSON.stringify(batch)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it("creates one execution per input, in their order, and counts them as they finish", async () => {
    const inputs = questions(12);
    const created = expectData(await run(EXECUTE_BATCH, { input: { programId, inputs } })).executeProgramBatch;
    assert.equal(created.total, 12);
    assert.equal(created.pending + created.running + created.completed, 12);
    const done = await finished(created.id);
    assert.deepEqual([done.status, done.completed, done.failed, done.pending, done.running, done.cancelled], ["FINISHED", 12, 0, 0, 0, 0]);
    const executions = done.executions.edges.map((e: any) => e.node);
    assert.deepEqual(executions.map((e: any) => e.inputs), inputs, "in the order of the inputs");
    for (const execution of executions) {
      assert.equal(execution.batchId, created.id);
      assert.deepEqual(execution.outputs, { answer: "Paris" });
    }
  });

  it("refuses the whole batch when one input is wrong, at its path, and writes nothing", async () => {
    const [executions, batches, audit] = await Promise.all([server().countRows("execution"), server().countRows("batch"), server().countRows("audit_event")]);
    const inputs = questions(20);
    inputs[17] = { question: 42, n: 17 } as never;
    const wrong = expectError(await run(EXECUTE_BATCH, { input: { programId, inputs } }), "BAD_USER_INPUT", "input.inputs[17].question");
    assert.match(wrong.message, /^input\.inputs\[17\]\.question: /);
    const missing = [...questions(3)];
    missing[1] = { n: 1 } as never;
    expectError(await run(EXECUTE_BATCH, { input: { programId, inputs: missing } }), "BAD_USER_INPUT", "input.inputs[1].question");
    expectError(await run(EXECUTE_BATCH, { input: { programId, inputs: [] } }), "BAD_USER_INPUT", "input.inputs");
    expectError(await run(EXECUTE_BATCH, { input: { programId, inputs: questions(1001) } }), "BAD_USER_INPUT", "input.inputs");
    expectError(await run(EXECUTE_BATCH, { input: { programId, inputs: questions(2), idempotencyKey: "" } }), "BAD_USER_INPUT", "input.idempotencyKey");
    expectError(await run(EXECUTE_BATCH, { input: { programId: "00000000-0000-7000-8000-000000000000", inputs: questions(2) } }), "NOT_FOUND", "input.programId");
    assert.deepEqual(await Promise.all([server().countRows("execution"), server().countRows("batch"), server().countRows("audit_event")]), [executions, batches, audit]);
  });

  it("returns the same batch for the same idempotency key and request, and refuses the key for another", async () => {
    const input = { programId, inputs: questions(3, 100), idempotencyKey: "batch-key-1" };
    const first = expectData(await run(EXECUTE_BATCH, { input })).executeProgramBatch;
    const executions = await server().countRows("execution");
    const again = expectData(await run(EXECUTE_BATCH, { input })).executeProgramBatch;
    assert.equal(again.id, first.id);
    assert.equal(await server().countRows("execution"), executions);
    expectError(await run(EXECUTE_BATCH, { input: { ...input, inputs: questions(3, 200) } }), "CONFLICT", "input.idempotencyKey");
  });

  it("batchUpdated sends the batch now and as it progresses, and completes when it has finished", async () => {
    const created = expectData(await run(EXECUTE_BATCH, { input: { programId, inputs: questions(30, 300) } })).executeProgramBatch;
    const client = wsClient(server().wsUrl);
    try {
      const updates = (await collect<any>(client, BATCH_UPDATED, { id: created.id }, 10_000, 30_000).done).map((u) => u.batchUpdated);
      assert.ok(updates.length >= 1);
      const last = updates[updates.length - 1];
      assert.deepEqual([last.status, last.completed], ["FINISHED", 30]);
      const completed = updates.map((u) => u.completed);
      assert.deepEqual(completed, [...completed].sort((a, b) => a - b), "progress never goes back");
    } finally {
      await client.dispose();
    }
  });

  it("refuses a batch the caller cannot see, on every operation", async () => {
    const unknown = "00000000-0000-7000-8000-00000000beef";
    assert.equal(expectData(await run(BATCH, { id: unknown })).batch, null);
    expectError(await run(CANCEL_BATCH, { id: unknown }), "NOT_FOUND", "id");
    const client = wsClient(server().wsUrl);
    try {
      await assert.rejects(collect<any>(client, BATCH_UPDATED, { id: unknown }, 1, 5_000).done, /not found/i);
    } finally {
      await client.dispose();
    }
  });

  it("takes 1,000 inputs in one transaction", async () => {
    const before = await server().countRows("execution");
    const started = Date.now();
    const created = expectData(await run(EXECUTE_BATCH, { input: { programId, inputs: questions(1000) } })).executeProgramBatch;
    console.log(`      1,000-input batch created in ${Date.now() - started} ms`);
    assert.equal(created.total, 1000);
    assert.equal(created.pending + created.running + created.completed, 1000);
    assert.equal((await server().countRows("execution")) - before, 1000);
    // Run through where the job store is quick; on FerretDB cancelled (its thousand jobs still take a while to clear).
    const done = stack.name === "embedded" ? await finished(created.id) : expectData(await run(CANCEL_BATCH, { id: created.id })).cancelBatch;
    assert.equal(done.completed + done.cancelled, 1000);
    assert.equal(done.failed, 0);
  });
});

describeEachStack("cancelBatch", { ...FAST_JOBS, EXECUTE_RATE_LIMIT: "off", DSPY_ADAPTER: "auto", WORKERS: "1", JOB_CONCURRENCY: "1" }, (server) => {
  let lm: Awaited<ReturnType<typeof startFakeOpenAI>>;
  before(async () => {
    lm = await startFakeOpenAI(() => ({ fields: { answer: "Paris" }, delayMs: 400 }));
  });
  after(() => lm?.close());

  it("cancels every execution not finished, the running one included, and says CANCELLED", async () => {
    const { programId } = await createProgram(server().url, "batch-cancel", { model: "openai/slow", apiBase: lm.url, cache: false });
    const created = expectData(await graphql(server().url, EXECUTE_BATCH, { input: { programId, inputs: questions(6) } })).executeProgramBatch;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const cancelled = expectData(await graphql(server().url, CANCEL_BATCH, { id: created.id })).cancelBatch;
    assert.equal(cancelled.status, "CANCELLED");
    assert.ok(cancelled.cancelledAt);
    assert.equal(cancelled.pending + cancelled.running, 0);
    assert.equal(cancelled.cancelled + cancelled.completed, 6);
    assert.ok(cancelled.cancelled >= 5, JSON.stringify(cancelled));
    // Cancelling again changes nothing.
    const again = expectData(await graphql(server().url, CANCEL_BATCH, { id: created.id })).cancelBatch;
    assert.deepEqual([again.cancelledAt, again.cancelled], [cancelled.cancelledAt, cancelled.cancelled]);
  });
});
