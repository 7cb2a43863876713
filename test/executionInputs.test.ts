import assert from "node:assert/strict";
import { expectData, expectError, graphql } from "./support/graphql.js";
import { createProgram, describeEachStack, dummyLm, jobsDrained } from "./support/stacks.js";

const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { id status outputs programVersion { number } } }`;

/** Validation happens before anything is written; the deterministic adapter is enough to see it. */
describeEachStack("executeProgram input checks and idempotency", { DSPY_ADAPTER: "in-process" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  let program: { programId: string; languageModelId: string; versionId: string };

  const definition = {
    inputs: { question: { type: "str" }, n: { type: "int" }, tags: { type: "list[str]" }, tone: { type: "enum", values: ["formal", "casual"] } },
    modules: { answerer: { type: "Predict", signature: { instructions: "Version one.", inputs: { question: { type: "str" } }, outputs: { answer: { type: "str" } } } } },
    forward: [{ call: "answerer", with: { question: "$input.question" }, as: "a" }, { return: { answer: "$a.answer" } }],
  };
  const valid = { question: "q", n: 1, tags: ["a"], tone: "formal" };

  before(async () => {
    program = await createProgram(server().url, "checked", dummyLm({ "Version one.": { answer: "one" }, "Version two.": { answer: "two" } }), definition);
  });

  const written = async () => ({
    executions: await server().countRows("execution"),
    events: await server().countRows("execution_event"),
    jobs: await server().jobs.countJobs(),
  });

  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ["a missing field", { inputs: { question: "q", n: 1, tags: [] } }, "input.inputs.tone", /is required/],
    ["an undeclared field", { inputs: { ...valid, extra: 1 } }, "input.inputs.extra", /is not an input of this program/],
    ["a string for an int", { inputs: { ...valid, n: "1" } }, "input.inputs.n", /int/],
    ["a float for an int", { inputs: { ...valid, n: 1.5 } }, "input.inputs.n", /int/],
    ["a wrong list item", { inputs: { ...valid, tags: ["a", 2] } }, "input.inputs.tags[1]", /str/],
    ["a value outside the enum", { inputs: { ...valid, tone: "angry" } }, "input.inputs.tone", /formal/],
    ["inputs that are not an object", { inputs: ["q"] }, "input.inputs", /JSON object/],
    ["inputs over the size limit", { inputs: { ...valid, question: "x".repeat(1_100_000) } }, "input.inputs", /limit is 1048576/],
    ["an empty idempotency key", { idempotencyKey: "", inputs: valid }, "input.idempotencyKey", /1 to 200/],
    ["a too long idempotency key", { idempotencyKey: "k".repeat(201), inputs: valid }, "input.idempotencyKey", /1 to 200/],
    ["a wait timeout out of range", { wait: true, waitTimeoutMs: 0, inputs: valid }, "input.waitTimeoutMs", /between 1 and/],
    ["a wait timeout without wait", { waitTimeoutMs: 100, inputs: valid }, "input.waitTimeoutMs", /only meaningful with wait/],
  ];
  for (const [name, input, path, reason] of cases) {
    it(`rejects ${name} with BAD_USER_INPUT at ${path}, writing nothing and queueing nothing`, async () => {
      const before = await written();
      const error = expectError(await run(EXECUTE, { input: { programId: program.programId, ...input } }), "BAD_USER_INPUT", path);
      assert.match(error.message, reason);
      assert.ok(error.message.startsWith(`${path}: `), error.message);
      assert.deepEqual(await written(), before);
    });
  }

  it("rejects unknown programs and versions of other programs with NOT_FOUND, writing nothing", async () => {
    const other = await createProgram(server().url, "other", dummyLm({ x: { answer: "y" } }));
    const before = await written();
    expectError(await run(EXECUTE, { input: { programId: "00000000-0000-7000-8000-000000000000", inputs: valid } }), "NOT_FOUND", "input.programId");
    // A malformed id is one that names nothing, like an unknown one (README "Errors").
    expectError(await run(EXECUTE, { input: { programId: "1; DROP TABLE program", inputs: valid } }), "NOT_FOUND", "input.programId");
    expectError(await run(EXECUTE, { input: { programId: program.programId, versionId: "v1", inputs: valid } }), "NOT_FOUND", "input.versionId");
    expectError(await run(EXECUTE, { input: { programId: program.programId, versionId: other.versionId, inputs: valid } }), "NOT_FOUND", "input.versionId");
    assert.deepEqual(await written(), before);
  });

  it("rejects a program without a language model, writing nothing", async () => {
    const bare = expectData(await run(`mutation($d: JSON!) { createProgram(input: { name: "no-lm", definition: $d }) { id } }`, { d: definition })).createProgram;
    const before = await written();
    const error = expectError(await run(EXECUTE, { input: { programId: bare.id, inputs: valid } }), "BAD_USER_INPUT", "input.programId");
    assert.match(error.message, /no language model/);
    assert.deepEqual(await written(), before);
  });

  it("runs the version asked for, and the current one by default", async () => {
    const updated = expectData(
      await run(`mutation($id: ID!, $d: JSON!) { updateProgram(input: { id: $id, definition: $d }) { currentVersion { number } } }`, {
        id: program.programId,
        d: { ...definition, modules: { answerer: { type: "Predict", signature: { instructions: "Version two.", inputs: { question: { type: "str" } }, outputs: { answer: { type: "str" } } } } } },
      }),
    ).updateProgram;
    assert.equal(updated.currentVersion.number, 2);
    const current = expectData(await run(EXECUTE, { input: { programId: program.programId, inputs: valid, wait: true } })).executeProgram;
    assert.deepEqual([current.programVersion.number, current.outputs], [2, { answer: "two" }]);
    const first = expectData(await run(EXECUTE, { input: { programId: program.programId, versionId: program.versionId, inputs: valid, wait: true } })).executeProgram;
    assert.deepEqual([first.programVersion.number, first.outputs], [1, { answer: "one" }]);
  });

  it("returns the same execution for the same idempotency key and request, and refuses the key for another request", async () => {
    const input = { programId: program.programId, inputs: valid, idempotencyKey: "order-42" };
    const first = expectData(await run(EXECUTE, { input })).executeProgram;
    const before = await written();
    const again = expectData(await run(EXECUTE, { input: { ...input, wait: true } })).executeProgram;
    assert.equal(again.id, first.id);
    assert.equal(again.status, "COMPLETED", "wait applies to the existing execution");
    assert.equal((await written()).executions, before.executions);
    const error = expectError(await run(EXECUTE, { input: { ...input, inputs: { ...valid, n: 2 } } }), "CONFLICT", "input.idempotencyKey");
    assert.match(error.message, /different request/);
    assert.equal((await written()).executions, before.executions);
  });

  it("creates one execution for one key sent many times at once", async () => {
    const input = { programId: program.programId, inputs: valid, idempotencyKey: "burst-1" };
    const before = await written();
    const results = await Promise.all(Array.from({ length: 8 }, () => run(EXECUTE, { input })));
    const ids = new Set(results.map((r) => expectData(r).executeProgram.id));
    assert.equal(ids.size, 1);
    assert.equal((await written()).executions, before.executions + 1);
  });

  it("creates one execution for one key sent many times at once with wait (each started where it was accepted): all answer it COMPLETED", async () => {
    const input = { programId: program.programId, inputs: valid, idempotencyKey: "burst-waited-1", wait: true };
    await jobsDrained(server(), "execute-program"); // the earlier tests' jobs, removed just after their runs
    const before = await written();
    const results = await Promise.all(Array.from({ length: 8 }, () => run(EXECUTE, { input })));
    const executions = results.map((r) => expectData(r).executeProgram);
    assert.equal(new Set(executions.map((e) => e.id)).size, 1);
    assert.deepEqual([...new Set(executions.map((e) => e.status))], ["COMPLETED"]);
    const after = await written();
    assert.equal(after.executions, before.executions + 1);
    // The losers' held jobs went with their rolled-back transactions; the winner's with its run.
    assert.equal(after.jobs, before.jobs);
  });
});
