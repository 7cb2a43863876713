import assert from "node:assert/strict";
import { collect, expectData, expectError, graphql, wsClient } from "./support/graphql.js";
import { createProgram, describeEachStack, dummyLm, EXECUTION_FIELDS, pollExecution } from "./support/stacks.js";

const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { ${EXECUTION_FIELDS} } }`;
const EVENTS = `subscription($p: ID!, $s: [ExecutionStatus!]) { executionEvents(programId: $p, statuses: $s) { id status outputs error { code layer } lastEvent { seq from to } } }`;
const UPDATED = `subscription($id: ID!) { executionUpdated(id: $id) { id status outputs attempt lastEvent { seq from to } } }`;

/** The whole path with real DSPy: resolver → job → pool → Python worker → events → graphql-ws. */
describeEachStack("executions through real DSPy workers", { DSPY_ADAPTER: "python", WORKERS: "1" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  let program: { programId: string; versionId: string };

  before(async () => {
    program = await createProgram(server().url, "capitals", dummyLm({ France: { answer: "Paris" }, Italy: { answer: "Rome" } }));
  });

  it("streams PENDING → RUNNING → COMPLETED to a graphql-ws client, with the outputs on completion", async () => {
    const client = wsClient(server().wsUrl);
    try {
      const events = collect<any>(client, EVENTS, { p: program.programId }, 3, 30_000);
      await events.ready;
      const queued = expectData(await run(EXECUTE, { input: { programId: program.programId, inputs: { question: "capital of France?", n: 1 } } })).executeProgram;
      assert.equal(queued.status, "PENDING");
      assert.deepEqual(queued.events.map((e: any) => [e.seq, e.from, e.to]), [[1, null, "PENDING"]]);
      const received = (await events.done).map((e) => e.executionEvents);
      assert.deepEqual(
        received.map((e) => [e.id, e.lastEvent.seq, e.lastEvent.from, e.lastEvent.to, e.status]),
        [
          [queued.id, 1, null, "PENDING", "PENDING"],
          [queued.id, 2, "PENDING", "RUNNING", "RUNNING"],
          [queued.id, 3, "RUNNING", "COMPLETED", "COMPLETED"],
        ],
      );
      assert.equal(received[1].outputs, null, "no outputs while running");
      assert.deepEqual(received[2].outputs, { answer: "Paris" });
    } finally {
      await client.dispose();
    }
  });

  it("answers executionUpdated with the current state first, then every later transition", async () => {
    const queued = expectData(await run(EXECUTE, { input: { programId: program.programId, inputs: { question: "capital of Italy?", n: 2 } } })).executeProgram;
    const client = wsClient(server().wsUrl);
    try {
      // Subscribed after the mutation returned: the first message is the state as of subscribing.
      const all = await collectUntilTerminal(client, queued.id);
      assert.equal(all[0].id, queued.id);
      const seqs = all.map((u) => u.lastEvent.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in order");
      assert.equal(new Set(seqs).size, seqs.length, "no transition twice");
      assert.equal(seqs[seqs.length - 1], 3, "ends with the third transition");
      const last = all[all.length - 1];
      assert.equal(last.status, "COMPLETED");
      assert.deepEqual(last.outputs, { answer: "Rome" });
    } finally {
      await client.dispose();
    }
  });

  it("with wait, returns the completed execution in one round trip, with trace and usage", async () => {
    const done = expectData(await run(EXECUTE, { input: { programId: program.programId, inputs: { question: "capital of France?", n: 3 }, wait: true } })).executeProgram;
    assert.equal(done.status, "COMPLETED");
    assert.deepEqual(done.outputs, { answer: "Paris" });
    assert.equal(done.attempt, 1);
    assert.deepEqual(done.events.map((e: any) => e.to), ["PENDING", "RUNNING", "COMPLETED"]);
    assert.ok(Date.parse(done.queuedAt) <= Date.parse(done.startedAt) && Date.parse(done.startedAt) <= Date.parse(done.finishedAt));
    assert.equal(done.usage.lmCalls, 1);
    assert.equal(done.trace.length, 1);
    assert.equal(done.trace[0].module, "answerer");
    assert.match(JSON.stringify(done.trace[0].lm_calls[0].messages), /capital of France/);
    assert.equal(done.lastEvent.to, "COMPLETED");
  });

  it("lists executions by program and status, and as Program.executions", async () => {
    const completed = expectData(await run(`query($p: ID!) { executions(programId: $p, status: COMPLETED, first: 100) { totalCount edges { node { id status } } } }`, { p: program.programId })).executions;
    assert.ok(completed.totalCount >= 3);
    assert.ok(completed.edges.every((e: any) => e.node.status === "COMPLETED"));
    const viaProgram = expectData(await run(`query($p: ID!) { program(id: $p) { executions(first: 2) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }`, { p: program.programId })).program.executions;
    assert.equal(viaProgram.edges.length, 2);
    assert.equal(viaProgram.pageInfo.hasNextPage, true);
    const next = expectData(await run(`query($p: ID!, $a: String!) { executions(programId: $p, first: 100, after: $a) { edges { node { id } } } }`, { p: program.programId, a: viaProgram.pageInfo.endCursor })).executions;
    const ids = [...viaProgram.edges.map((e: any) => e.node.id), ...next.edges.map((e: any) => e.node.id)];
    assert.equal(new Set(ids).size, viaProgram.totalCount, "pages neither overlap nor skip");
    assert.equal(expectData(await run(`query { execution(id: "00000000-0000-7000-8000-000000000000") { id } }`)).execution, null);
    assert.equal(expectData(await run(`query { execution(id: "not-an-id") { id } }`)).execution, null);
  });

  it("resolves Execution through _entities, and null for unknown ids", async () => {
    const any = expectData(await run(`query($p: ID!) { executions(programId: $p, first: 1) { edges { node { id } } } }`, { p: program.programId })).executions.edges[0].node;
    const entities = expectData(
      await run(`query($r: [_Any!]!) { _entities(representations: $r) { ... on Execution { id status program { name } programVersion { number } } } }`, {
        r: [{ __typename: "Execution", id: any.id }, { __typename: "Execution", id: "00000000-0000-7000-8000-000000000000" }],
      }),
    )._entities;
    assert.equal(entities[0].id, any.id);
    assert.equal(entities[0].program.name, "capitals");
    assert.equal(entities[0].programVersion.number, 1);
    assert.equal(entities[1], null);
  });

  it("refuses to delete a program with pending or running executions", async () => {
    const other = await createProgram(server().url, "slow-delete", dummyLm({ x: { answer: "y" } }));
    const queued = expectData(await run(EXECUTE, { input: { programId: other.programId, inputs: { question: "x", n: 0 } } })).executeProgram;
    const refused = await run(`mutation($id: ID!) { deleteProgram(id: $id) }`, { id: other.programId });
    if (refused.errors) {
      expectError(refused, "CONFLICT", "id");
      await pollExecution(server().url, queued.id, (e) => e.status === "COMPLETED");
      expectData(await run(`mutation($id: ID!) { deleteProgram(id: $id) }`, { id: other.programId }));
    }
    // Either way, once deleted its executions are gone with it.
    assert.equal(expectData(await run(`query($id: ID!) { execution(id: $id) { id } }`, { id: queued.id })).execution, null);
  });

  async function collectUntilTerminal(client: ReturnType<typeof wsClient>, id: string): Promise<any[]> {
    const seen: any[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no terminal state: ${JSON.stringify(seen)}`)), 30_000);
      const stop = client.subscribe<any>({ query: UPDATED, variables: { id } }, {
        next: (value) => {
          const update = value.data?.executionUpdated;
          seen.push(update);
          if (["COMPLETED", "FAILED", "CANCELLED"].includes(update?.status)) {
            clearTimeout(timer);
            stop();
            resolve();
          }
        },
        error: reject,
        complete: () => undefined,
      });
    });
    return seen;
  }
});
