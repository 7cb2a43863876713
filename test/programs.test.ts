import assert from "node:assert/strict";
import { compactDefinition, PROGRAM_FIELDS, qaDefinition } from "./support/fixtures.js";
import { expectData, expectError, graphql } from "./support/graphql.js";
import { describeEachDatabase } from "./support/harness.js";

const CREATE = `mutation($input: CreateProgramInput!) { createProgram(input: $input) { ${PROGRAM_FIELDS} } }`;
const UPDATE = `mutation($input: UpdateProgramInput!) { updateProgram(input: $input) { ${PROGRAM_FIELDS} } }`;
const VERSIONS = `query($id: ID!, $first: Int, $after: String) { program(id: $id) { versions(first: $first, after: $after) {
  totalCount edges { cursor node { number definition source contentHash program { id } } } pageInfo { hasNextPage endCursor } } } }`;

type Mutator = (d: any) => void;

/** Invalid definitions, each a change to the valid QA example: [title, change, path, text the message must contain]. */
const INVALID_DEFINITIONS: [string, Mutator, string, string][] = [
  ["unknown module type", (d) => (d.modules.generate.type = "Telepathy"), "input.definition.modules.generate.type", "Telepathy"],
  ["invalid module name", (d) => ((d.modules["2fast"] = d.modules.generate), delete d.modules.generate, (d.forward[0].call = "2fast")), 'input.definition.modules["2fast"]', "2fast"],
  ["module name shadowing dspy.Module", (d) => ((d.modules.forward = d.modules.generate), delete d.modules.generate, (d.forward[0].call = "forward")), "input.definition.modules.forward", "shadow"],
  ["duplicate step names", (d) => d.forward.splice(1, 0, { ...d.forward[0] }), "input.definition.forward[1].as", "gen"],
  ["empty forward", (d) => (d.forward = []), "input.definition.forward", ""],
  ["forward not a list", (d) => (d.forward = { call: "generate" }), "input.definition.forward", ""],
  ["return missing", (d) => d.forward.pop(), "input.definition.forward", "return"],
  ["return not last", (d) => d.forward.reverse(), "input.definition.forward[0]", "return"],
  ["call of an undeclared module", (d) => (d.forward[0].call = "generat"), "input.definition.forward[0].call", "generat"],
  ["reference to an undefined step", (d) => (d.forward[1].return.answer = "$nope.answer"), "input.definition.forward[1].return.answer", "nope"],
  ["reference to an output the module lacks", (d) => (d.forward[1].return.answer = "$gen.answr"), "input.definition.forward[1].return.answer", "answr"],
  ["undeclared $input field", (d) => (d.forward[0].with.question = "$input.query"), "input.definition.forward[0].with.question", "query"],
  ["malformed reference", (d) => (d.forward[1].return.answer = "$gen"), "input.definition.forward[1].return.answer", "$gen"],
  ["unknown field type", (d) => (d.modules.generate.signature.outputs.answer.type = "string"), "input.definition.modules.generate.signature.outputs.answer.type", "string"],
  ["unknown list element type", (d) => (d.inputs.context.type = "list[passage]"), "input.definition.inputs.context.type", "list[passage]"],
  ["enum without values", (d) => (d.modules.generate.signature.outputs.answer = { type: "enum", values: [] }), "input.definition.modules.generate.signature.outputs.answer.values", ""],
  ["enum with duplicate values", (d) => (d.modules.generate.signature.outputs.answer = { type: "enum", values: ["a", "a"] }), "input.definition.modules.generate.signature.outputs.answer.values[1]", "duplicate"],
  ["enum with mixed kinds", (d) => (d.modules.generate.signature.outputs.answer = { type: "enum", values: ["a", 1] }), "input.definition.modules.generate.signature.outputs.answer.values[1]", "one kind"],
  ["required signature input left unbound", (d) => delete d.forward[0].with.context, "input.definition.forward[0].with", "context"],
  ["binding to an input the signature lacks", (d) => (d.forward[0].with.extra = "$input.question"), "input.definition.forward[0].with.extra", "extra"],
  ["type mismatch between reference and input", (d) => (d.forward[0].with.context = "$input.question"), "input.definition.forward[0].with.context", "list[str]"],
  ["reasoning declared on ChainOfThought", (d) => (d.modules.generate.signature.outputs.reasoning = { type: "str" }), "input.definition.modules.generate.signature.outputs.reasoning", "reasoning"],
  ["compact signature without arrow", (d) => (d.modules.generate.signature = "context: list[str], question"), "input.definition.modules.generate.signature", "->"],
  ["compact signature with an unknown type", (d) => (d.modules.generate.signature = "context: list[str], question: text -> answer"), "input.definition.modules.generate.signature", "text"],
  ["unknown root key", (d) => (d.code = "import os"), "input.definition.code", ""],
  ["oversized definition", (d) => (d.modules.generate.signature.instructions = "x".repeat(70_000)), "input.definition", "65536"],
];

describeEachDatabase("programs", (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  const create = async (name: string, definition = qaDefinition(), extra: Record<string, unknown> = {}) =>
    expectData(await run(CREATE, { input: { name, definition, ...extra } })).createProgram;

  it("creates a program with version 1 holding its definition", async () => {
    const lm = expectData(await run(`mutation { createLanguageModel(input: { name: "p-lm", model: "dummy", config: { answers: [{ answer: "x" }] } }) { id } }`)).createLanguageModel;
    const program = await create("qa", qaDefinition(), { description: "answers questions", languageModelId: lm.id });
    assert.equal(program.name, "qa");
    assert.equal(program.description, "answers questions");
    assert.deepEqual(program.definition, qaDefinition());
    assert.equal(program.languageModel.id, lm.id);
    assert.equal(program.currentVersion.number, 1);
    assert.equal(program.currentVersion.source, "MANUAL");
    assert.deepEqual(program.currentVersion.definition, qaDefinition());
    assert.equal(program.currentVersion.compiledState, null);
    assert.match(program.currentVersion.contentHash, /^[0-9a-f]{64}$/);
    assert.equal(program.version, 1);
  });

  it("accepts DSPy's compact signature strings", async () => {
    const program = await create("compact", compactDefinition());
    assert.deepEqual(program.definition, compactDefinition());
  });

  it("numbers versions 1, 2, 3 and never changes an old one", async () => {
    const program = await create("versioned");
    const v2 = expectData(await run(UPDATE, { input: { id: program.id, definition: qaDefinition("Answer briefly.") } })).updateProgram;
    assert.equal(v2.currentVersion.number, 2);
    assert.equal(v2.version, 2);
    const v3 = expectData(await run(UPDATE, { input: { id: program.id, expectedVersion: 2, definition: qaDefinition("Answer in French.") } })).updateProgram;
    assert.equal(v3.currentVersion.number, 3);
    assert.deepEqual(v3.definition, qaDefinition("Answer in French."));

    const versions = expectData(await run(VERSIONS, { id: program.id })).program.versions;
    assert.equal(versions.totalCount, 3);
    assert.deepEqual(versions.edges.map((e: any) => e.node.number), [1, 2, 3]);
    assert.deepEqual(versions.edges[0].node.definition, qaDefinition());
    assert.deepEqual(versions.edges[1].node.definition, qaDefinition("Answer briefly."));
    assert.ok(versions.edges.every((e: any) => e.node.program.id === program.id));
    assert.equal(new Set(versions.edges.map((e: any) => e.node.contentHash)).size, 3);

    const byNumber = expectData(await run(`query($id: ID!) { program(id: $id) { versionNumber(number: 2) { number definition } } }`, { id: program.id })).program;
    assert.deepEqual(byNumber.versionNumber, { number: 2, definition: qaDefinition("Answer briefly.") });
  });

  it("keeps the version when the definition is unchanged (key order included) and other fields change", async () => {
    const program = await create("same-def");
    const reordered = JSON.parse(JSON.stringify({ forward: qaDefinition().forward, modules: qaDefinition().modules, inputs: qaDefinition().inputs }));
    const updated = expectData(await run(UPDATE, { input: { id: program.id, definition: reordered, description: "new words" } })).updateProgram;
    assert.equal(updated.currentVersion.number, 1);
    assert.equal(updated.description, "new words");
    assert.equal(updated.version, 2);
    assert.equal(await server().countRows("program_version WHERE programId = '" + program.id + "'"), 1);
  });

  it("rejects a stale expectedVersion with CONFLICT and creates no version", async () => {
    const program = await create("optimistic");
    expectData(await run(UPDATE, { input: { id: program.id, expectedVersion: 1, name: "optimistic-2" } }));
    const versionsBefore = await server().countRows("program_version");
    const error = expectError(await run(UPDATE, { input: { id: program.id, expectedVersion: 1, definition: qaDefinition("stale") } }), "CONFLICT", "input.expectedVersion");
    assert.match(error.message, /version 2, not 1/);
    assert.equal(await server().countRows("program_version"), versionsBefore);
    const now = expectData(await run(`query($id: ID!) { program(id: $id) { name version currentVersion { number } } }`, { id: program.id })).program;
    assert.deepEqual(now, { name: "optimistic-2", version: 2, currentVersion: { number: 1 } });
  });

  it("lets exactly one of two concurrent updates at the same expectedVersion win", async () => {
    const program = await create("race");
    const results = await Promise.all(
      ["first", "second", "third"].map((text) => run(UPDATE, { input: { id: program.id, expectedVersion: 1, definition: qaDefinition(text) } })),
    );
    const wins = results.filter((r) => !r.errors);
    assert.equal(wins.length, 1, JSON.stringify(results));
    for (const lost of results.filter((r) => r.errors)) expectError(lost, "CONFLICT");
    const versions = expectData(await run(VERSIONS, { id: program.id })).program.versions;
    assert.deepEqual(versions.edges.map((e: any) => e.node.number), [1, 2]);
  });

  it("rejects a duplicate name with CONFLICT, on create and on rename", async () => {
    await create("unique-name");
    const other = await create("other-name");
    const before = await server().countRows("program");
    expectError(await run(CREATE, { input: { name: "unique-name", definition: qaDefinition() } }), "CONFLICT", "input.name");
    assert.equal(await server().countRows("program"), before);
    expectError(await run(UPDATE, { input: { id: other.id, name: "unique-name" } }), "CONFLICT", "input.name");
  });

  it("deletes a program with its versions", async () => {
    const program = await create("doomed");
    expectData(await run(UPDATE, { input: { id: program.id, definition: qaDefinition("v2") } }));
    expectError(await run(`mutation($id: ID!) { deleteProgram(id: $id, expectedVersion: 1) }`, { id: program.id }), "CONFLICT", "expectedVersion");
    const deleted = expectData(await run(`mutation($id: ID!) { deleteProgram(id: $id, expectedVersion: 2) }`, { id: program.id })).deleteProgram;
    assert.equal(deleted, program.id);
    assert.equal(expectData(await run(`query($id: ID!) { program(id: $id) { id } }`, { id: program.id })).program, null);
    assert.equal(await server().countRows(`program_version WHERE programId = '${program.id}'`), 0);
    expectError(await run(`mutation($id: ID!) { deleteProgram(id: $id) }`, { id: program.id }), "NOT_FOUND", "id");
  });

  it("pages through programs with cursors, in creation order, and filters by name", async () => {
    const names = ["page-a", "page-b", "page-c", "page-d", "page-e"];
    for (const name of names) await create(name);
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: any = expectData(await run(`query($after: String) { programs(first: 2, after: $after, filter: { nameContains: "PAGE-" }) {
        totalCount edges { cursor node { name } } pageInfo { hasNextPage hasPreviousPage endCursor } } }`, { after })).programs;
      assert.equal(page.totalCount, 5);
      seen.push(...page.edges.map((e: any) => e.node.name));
      assert.equal(page.pageInfo.hasPreviousPage, after !== null);
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    assert.deepEqual(seen, names);
    const exact = expectData(await run(`{ programs(filter: { name: "page-c" }) { edges { node { name } } } }`)).programs;
    assert.deepEqual(exact.edges.map((e: any) => e.node.name), ["page-c"]);
    expectError(await run(`{ programs(after: "bogus") { totalCount } }`), "BAD_USER_INPUT", "after");
    expectError(await run(`{ programs(first: 1000) { totalCount } }`), "BAD_USER_INPUT", "first");
  });

  it("answers null for unknown or malformed ids and NOT_FOUND for mutations on them", async () => {
    for (const id of ["nope", "00000000-0000-7000-8000-000000000000", "1; DROP TABLE program"]) {
      assert.equal(expectData(await run(`query($id: ID!) { program(id: $id) { id } programVersion(id: $id) { id } }`, { id })).program, null);
      expectError(await run(UPDATE, { input: { id, name: "x" } }), "NOT_FOUND", "input.id");
    }
    expectError(await run(CREATE, { input: { name: "bad-lm", definition: qaDefinition(), languageModelId: "00000000-0000-7000-8000-000000000000" } }), "NOT_FOUND", "input.languageModelId");
    expectError(await run(CREATE, { input: { name: "bad-lm", definition: qaDefinition(), languageModelId: "zzz" } }), "NOT_FOUND", "input.languageModelId");
  });

  for (const [title, mutate, path, text] of INVALID_DEFINITIONS) {
    it(`rejects a definition with ${title} at ${path}, writing nothing`, async () => {
      const definition = qaDefinition();
      mutate(definition);
      const [programs, versions] = [await server().countRows("program"), await server().countRows("program_version")];
      const error = expectError(await run(CREATE, { input: { name: `bad-${title}`, definition } }), "BAD_USER_INPUT");
      const paths = (error.extensions?.issues as { path: string }[]).map((i) => i.path);
      assert.ok(paths.includes(path), `expected an issue at ${path}, got ${JSON.stringify(error.extensions?.issues)}`);
      assert.ok(error.message.includes(text), `message '${error.message}' lacks '${text}'`);
      assert.equal(await server().countRows("program"), programs);
      assert.equal(await server().countRows("program_version"), versions);
    });
  }

  it("rejects an invalid definition on update, keeping the program and its versions unchanged", async () => {
    const program = await create("guarded");
    const bad = qaDefinition();
    (bad.modules as any).generate.type = "Unknown";
    expectError(await run(UPDATE, { input: { id: program.id, definition: bad } }), "BAD_USER_INPUT", "input.definition.modules.generate.type");
    const now = expectData(await run(`query($id: ID!) { program(id: $id) { version definition currentVersion { number } } }`, { id: program.id })).program;
    assert.deepEqual(now, { version: 1, definition: qaDefinition(), currentVersion: { number: 1 } });
  });

  it("rejects bad names and descriptions", async () => {
    expectError(await run(CREATE, { input: { name: "", definition: qaDefinition() } }), "BAD_USER_INPUT", "input.name");
    expectError(await run(CREATE, { input: { name: "n", description: "d".repeat(10_001), definition: qaDefinition() } }), "BAD_USER_INPUT", "input.description");
    expectError(await run(CREATE, { input: { name: "n" } }), "BAD_USER_INPUT");
  });
});
