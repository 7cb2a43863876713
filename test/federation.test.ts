import assert from "node:assert/strict";
import fs from "node:fs";
import { composeServices } from "@apollo/composition";
import { parse as parseGraphQL, print } from "graphql";
import { parse as parseYaml } from "yaml";
import { qaDefinition } from "./support/fixtures.js";
import { expectData, graphql } from "./support/graphql.js";
import { describeEachDatabase } from "./support/harness.js";
import { reviewsTypeDefs } from "./fixtures/reviewsSubgraph.js";

describeEachDatabase("federation", (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);

  it("publishes @key entities in _service.sdl", async () => {
    const sdl = expectData(await run("{ _service { sdl } }"))._service.sdl as string;
    for (const type of ["Program", "ProgramVersion", "LanguageModel", "Dataset"]) {
      assert.match(sdl, new RegExp(`type ${type}\\s+@key\\(fields: "id"\\)`), `${type} lacks @key`);
    }
    assert.match(sdl, /@link\(url: "https:\/\/specs\.apollo\.dev\/federation\/v2\.\d+"/);
  });

  it("composes with supergraph.yaml's subgraph and a second subgraph extending Program", async () => {
    const config = parseYaml(fs.readFileSync("supergraph.yaml", "utf8")) as { federation_version: string; subgraphs: Record<string, { routing_url: string }> };
    assert.match(config.federation_version, /^=2\./);
    const [name, subgraph] = Object.entries(config.subgraphs)[0];
    const sdl = expectData(await run("{ _service { sdl } }"))._service.sdl as string;
    const result = composeServices([
      { name, url: subgraph.routing_url, typeDefs: parseGraphQL(sdl) },
      { name: "reviews", url: "http://127.0.0.1:1/graphql", typeDefs: reviewsTypeDefs },
    ]);
    assert.equal(result.errors, undefined, JSON.stringify(result.errors?.map((e) => e.message)));
    const supergraph = print(parseGraphQL(result.supergraphSdl!));
    const programType = supergraph.split("type Program")[1].split("\n}")[0];
    assert.match(programType, /reviews: \[Review!\]!/);
    assert.match(programType, /currentVersion: ProgramVersion/);
    assert.match(programType, /definition: JSON!/);
  });

  it("resolves _entities for each @key type, and null for malformed or unknown ids", async () => {
    const lm = expectData(await run(`mutation { createLanguageModel(input: { name: "fed-lm", model: "openai/gpt-4o" }) { id } }`)).createLanguageModel;
    const program = expectData(await run(`mutation($d: JSON!) { createProgram(input: { name: "fed", definition: $d }) { id currentVersion { id } } }`, { d: qaDefinition() })).createProgram;
    const dataset = expectData(await run(`mutation { createDataset(input: { name: "fed-ds" }) { id } }`)).createDataset;
    const representations = [
      { __typename: "Program", id: program.id },
      { __typename: "ProgramVersion", id: program.currentVersion.id },
      { __typename: "LanguageModel", id: lm.id },
      { __typename: "Dataset", id: dataset.id },
      { __typename: "Program", id: "not-a-uuid" },
      { __typename: "Program", id: "00000000-0000-7000-8000-000000000000" },
      { __typename: "Dataset", id: "'; DROP TABLE dataset; --" },
      { __typename: "ProgramVersion", id: "" },
    ];
    const response = await run(
      `query($r: [_Any!]!) { _entities(representations: $r) { __typename
        ... on Program { id name } ... on ProgramVersion { id number } ... on LanguageModel { id name } ... on Dataset { id name } } }`,
      { r: representations },
    );
    const entities = expectData(response)._entities;
    assert.deepEqual(entities.slice(0, 4), [
      { __typename: "Program", id: program.id, name: "fed" },
      { __typename: "ProgramVersion", id: program.currentVersion.id, number: 1 },
      { __typename: "LanguageModel", id: lm.id, name: "fed-lm" },
      { __typename: "Dataset", id: dataset.id, name: "fed-ds" },
    ]);
    assert.deepEqual(entities.slice(4), [null, null, null, null]);
  });
});
