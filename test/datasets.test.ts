import assert from "node:assert/strict";
import { expectData, expectError, graphql } from "./support/graphql.js";
import { describeEachDatabase } from "./support/harness.js";

const CREATE = `mutation($input: CreateDatasetInput!) { createDataset(input: $input) { id name description exampleCount version } }`;
const ADD = `mutation($input: AddExamplesInput!) { addExamples(input: $input) { dataset { id exampleCount } examples { id inputs labels split } } }`;

const example = (i: number, split = "TRAIN") => ({ inputs: { question: `q${i}` }, labels: { answer: `a${i}` }, split });

describeEachDatabase("datasets and examples", (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);

  it("creates a dataset with examples and reads them back by split", async () => {
    const dataset = expectData(await run(CREATE, { input: { name: "qa", description: "questions", examples: [example(1), example(2, "DEV"), example(3, "TEST")] } })).createDataset;
    assert.equal(dataset.exampleCount, 3);
    const read = expectData(await run(`query($id: ID!) { dataset(id: $id) { name train: exampleCount(split: TRAIN) dev: examples(split: DEV) { totalCount edges { node { inputs labels split } } } } }`, { id: dataset.id })).dataset;
    assert.equal(read.name, "qa");
    assert.equal(read.train, 1);
    assert.deepEqual(read.dev.edges.map((e: any) => e.node), [{ inputs: { question: "q2" }, labels: { answer: "a2" }, split: "DEV" }]);
  });

  it("adds examples in bulk and pages through them in order", async () => {
    const dataset = expectData(await run(CREATE, { input: { name: "bulk" } })).createDataset;
    const batch = Array.from({ length: 250 }, (_, i) => ({ inputs: { question: `q${i}`, context: ["c"] }, labels: { answer: i } }));
    const added = expectData(await run(ADD, { input: { datasetId: dataset.id, examples: batch } })).addExamples;
    assert.equal(added.examples.length, 250);
    assert.equal(added.dataset.exampleCount, 250);
    assert.ok(added.examples.every((e: any) => e.split === "TRAIN"));
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page: any = expectData(await run(`query($id: ID!, $after: String) { dataset(id: $id) { examples(first: 100, after: $after) { edges { node { inputs } } pageInfo { hasNextPage endCursor } } } }`, { id: dataset.id, after })).dataset.examples;
      seen.push(...page.edges.map((e: any) => e.node.inputs.question));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    assert.deepEqual(seen, batch.map((b) => b.inputs.question));
  });

  it("lists datasets with a name filter", async () => {
    expectData(await run(CREATE, { input: { name: "listed" } }));
    const list = expectData(await run(`{ datasets(filter: { name: "listed" }) { totalCount edges { node { name } } } }`)).datasets;
    assert.deepEqual(list.edges.map((e: any) => e.node.name), ["listed"]);
  });

  it("rejects a duplicate dataset name with CONFLICT and stores none of its examples", async () => {
    expectData(await run(CREATE, { input: { name: "dup" } }));
    const before = await server().countRows("example");
    expectError(await run(CREATE, { input: { name: "dup", examples: [example(1)] } }), "CONFLICT", "input.name");
    assert.equal(await server().countRows("example"), before);
  });

  it("adds nothing when one example of a batch is invalid (all or nothing)", async () => {
    const dataset = expectData(await run(CREATE, { input: { name: "atomic" } })).createDataset;
    const batch = [example(1), example(2), { inputs: {}, labels: {} }, example(4)];
    expectError(await run(ADD, { input: { datasetId: dataset.id, examples: batch } }), "BAD_USER_INPUT", "input.examples[2].inputs");
    assert.equal(await server().countRows(`example WHERE datasetId = '${dataset.id}'`), 0);
  });

  it("answers NOT_FOUND for examples added to an unknown dataset", async () => {
    for (const datasetId of ["nope", "00000000-0000-7000-8000-000000000000"]) {
      expectError(await run(ADD, { input: { datasetId, examples: [example(1)] } }), "NOT_FOUND", "input.datasetId");
    }
    assert.equal(expectData(await run(`{ dataset(id: "x") { id } }`)).dataset, null);
  });

  const invalid: [string, unknown[], string, string][] = [
    ["empty inputs", [{ inputs: {} }], "input.examples[0].inputs", "at least one field"],
    ["a key that is not a field name", [{ inputs: { "my question": "q" } }], 'input.examples[0].inputs["my question"]', "not a valid field name"],
    ["a field both input and label", [{ inputs: { q: 1 }, labels: { q: 2 } }], "input.examples[0].labels.q", "either an input or a label"],
    ["an oversized example", [{ inputs: { q: "x".repeat(70_000) } }], "input.examples[0].inputs", "the limit is 65536"],
    ["too many examples", Array.from({ length: 1001 }, (_, i) => example(i)), "input.examples", "at most 1000"],
    ["an empty batch", [], "input.examples", "at least one"],
  ];
  for (const [title, examples, path, reason] of invalid) {
    it(`rejects ${title} (${path}) and writes nothing`, async () => {
      const dataset = expectData(await run(CREATE, { input: { name: `invalid ${title}` } })).createDataset;
      const before = await server().countRows("example");
      const error = expectError(await run(ADD, { input: { datasetId: dataset.id, examples } }), "BAD_USER_INPUT", path);
      assert.ok(error.message.includes(reason), `message '${error.message}' lacks '${reason}'`);
      assert.equal(await server().countRows("example"), before);
    });
  }

  it("rejects invalid dataset fields and an invalid split", async () => {
    const before = await server().countRows("dataset");
    expectError(await run(CREATE, { input: { name: "  " } }), "BAD_USER_INPUT", "input.name");
    expectError(await run(CREATE, { input: { name: "d", description: "x".repeat(10_001) } }), "BAD_USER_INPUT", "input.description");
    expectError(await run(CREATE, { input: { name: "d", examples: [{ inputs: { q: 1 }, split: "VALIDATION" }] } }), "BAD_USER_INPUT");
    expectError(await run(CREATE, { input: { name: "d", examples: [{ inputs: [1, 2] }] } }), "BAD_USER_INPUT");
    assert.equal(await server().countRows("dataset"), before);
  });
});
