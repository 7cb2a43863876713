import assert from "node:assert/strict";
import { lmWireConfig } from "../src/adapters/lmWireConfig.js";
import { describeEachDatabase } from "./support/harness.js";
import { expectData, expectError, graphql } from "./support/graphql.js";
import { TEST_POLICIES } from "./support/harness.js";

const LM_FIELDS = "id name model apiBase temperature maxTokens cache hasSecret config version";
const CREATE = `mutation($input: CreateLanguageModelInput!) { createLanguageModel(input: $input) { ${LM_FIELDS} } }`;
const UPDATE = `mutation($input: UpdateLanguageModelInput!) { updateLanguageModel(input: $input) { ${LM_FIELDS} } }`;

describeEachDatabase("language models", (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);

  it("creates, reads, updates and lists a model", async () => {
    const created = expectData(await run(CREATE, { input: { name: "gpt", model: "openai/gpt-4o-mini", temperature: 0.7, maxTokens: 512, secretEnv: "OPENAI_API_KEY" } })).createLanguageModel;
    assert.equal(created.model, "openai/gpt-4o-mini");
    assert.equal(created.temperature, 0.7);
    assert.equal(created.maxTokens, 512);
    assert.equal(created.cache, true);
    assert.equal(created.hasSecret, true);
    assert.equal(created.version, 1);

    const read = expectData(await run(`query($id: ID!) { languageModel(id: $id) { ${LM_FIELDS} } }`, { id: created.id })).languageModel;
    assert.deepEqual(read, created);

    const updated = expectData(await run(UPDATE, { input: { id: created.id, expectedVersion: 1, temperature: 0, cache: false, secretEnv: null } })).updateLanguageModel;
    assert.equal(updated.temperature, 0);
    assert.equal(updated.cache, false);
    assert.equal(updated.hasSecret, false);
    assert.equal(updated.version, 2);
    assert.equal(updated.name, "gpt");

    const list = expectData(await run(`{ languageModels(filter: { model: "openai/gpt-4o-mini" }) { totalCount edges { node { id } } } }`)).languageModels;
    assert.equal(list.totalCount, 1);
    assert.equal(list.edges[0].node.id, created.id);
  });

  it("stores the dummy provider's answers in config", async () => {
    const config = { answers: [{ answer: "Paris" }] };
    const lm = expectData(await run(CREATE, { input: { name: "dummy-lm", model: "dummy", config } })).createLanguageModel;
    assert.deepEqual(lm.config, config);
    assert.equal(lm.hasSecret, false);
  });

  it("stores the DSPy adapter a model uses in config", async () => {
    const config = { adapter: "json_schema" };
    const lm = expectData(await run(CREATE, { input: { name: "local-llama", model: "openai/gemma", apiBase: "http://127.0.0.1:8080/v1", config } })).createLanguageModel;
    assert.deepEqual(lm.config, config);
  });

  it("never returns the secret reference, by any query", async () => {
    const lm = expectData(await run(CREATE, { input: { name: "secretive", model: "openai/gpt-4o", secretEnv: "VERY_SECRET_API_KEY" } })).createLanguageModel;
    const queried = await run(`query($id: ID!) { languageModel(id: $id) { secretEnv } }`, { id: lm.id });
    expectError(queried, "GRAPHQL_VALIDATION_FAILED");
    const everything = await run(
      `query($id: ID!) { languageModel(id: $id) { ${LM_FIELDS} } languageModels(first: 100) { edges { node { ${LM_FIELDS} } } }
        _entities(representations: [{ __typename: "LanguageModel", id: $id }]) { ... on LanguageModel { ${LM_FIELDS} } } }`,
      { id: lm.id },
    );
    expectData(everything);
    assert.ok(!JSON.stringify(everything).includes("VERY_SECRET_API_KEY"));
    const sdl = expectData(await run("{ _service { sdl } }"))._service.sdl as string;
    assert.ok(!/secretEnv\s*:/.test(sdl.split("input CreateLanguageModelInput")[0].split("type LanguageModel")[1] ?? ""), "LanguageModel type exposes secretEnv");
  });

  it("rejects a stale expectedVersion with CONFLICT and changes nothing", async () => {
    const lm = expectData(await run(CREATE, { input: { name: "locked", model: "openai/gpt-4o" } })).createLanguageModel;
    expectData(await run(UPDATE, { input: { id: lm.id, expectedVersion: 1, temperature: 1 } }));
    expectError(await run(UPDATE, { input: { id: lm.id, expectedVersion: 1, temperature: 2 } }), "CONFLICT", "input.expectedVersion");
    const now = expectData(await run(`query($id: ID!) { languageModel(id: $id) { temperature version } }`, { id: lm.id })).languageModel;
    assert.deepEqual(now, { temperature: 1, version: 2 });
  });

  it("rejects a duplicate name with CONFLICT", async () => {
    expectData(await run(CREATE, { input: { name: "twice", model: "openai/gpt-4o" } }));
    const before = await server().countRows("language_model");
    expectError(await run(CREATE, { input: { name: "twice", model: "openai/gpt-4o" } }), "CONFLICT", "input.name");
    assert.equal(await server().countRows("language_model"), before);
  });

  it("answers null / NOT_FOUND for unknown and malformed ids", async () => {
    for (const id of ["not-a-uuid", "00000000-0000-7000-8000-000000000000", "' OR 1=1 --"]) {
      assert.equal(expectData(await run(`query($id: ID!) { languageModel(id: $id) { id } }`, { id })).languageModel, null);
      expectError(await run(UPDATE, { input: { id, temperature: 1 } }), "NOT_FOUND", "input.id");
    }
  });

  const invalid: [string, Record<string, unknown>, string, string][] = [
    ["empty name", { name: "", model: "openai/gpt-4o" }, "input.name", "must not be empty"],
    ["name with surrounding spaces", { name: " lm ", model: "openai/gpt-4o" }, "input.name", "whitespace"],
    ["overlong name", { name: "x".repeat(201), model: "openai/gpt-4o" }, "input.name", "at most 200"],
    ["model without provider", { name: "a", model: "gpt-4o" }, "input.model", "provider/model"],
    ["model with spaces", { name: "a", model: "openai/gpt 4o" }, "input.model", "litellm model string"],
    ["apiBase not a URL", { name: "a", model: "openai/x", apiBase: "localhost:8000" }, "input.apiBase", "http(s) URL"],
    ["apiBase with credentials", { name: "a", model: "openai/x", apiBase: "http://user:pw@127.0.0.1:1/v1" }, "input.apiBase", "credentials"],
    ["apiBase of another scheme", { name: "a", model: "openai/x", apiBase: "file:///etc/passwd" }, "input.apiBase", "http(s) URL"],
    ["negative temperature", { name: "a", model: "openai/x", temperature: -0.1 }, "input.temperature", "between 0 and 2"],
    ["temperature above 2", { name: "a", model: "openai/x", temperature: 2.5 }, "input.temperature", "between 0 and 2"],
    ["zero maxTokens", { name: "a", model: "openai/x", maxTokens: 0 }, "input.maxTokens", "between 1 and"],
    ["secretEnv not a variable name", { name: "a", model: "openai/x", secretEnv: "MY-KEY" }, "input.secretEnv", "environment variable"],
    ["dummy without answers", { name: "a", model: "dummy" }, "input.config.answers", "needs `answers`"],
    ["dummy with empty answers", { name: "a", model: "dummy", config: { answers: [] } }, "input.config.answers", "at least one"],
    ["dummy answer not an object", { name: "a", model: "dummy", config: { answers: ["Paris"] } }, "input.config.answers[0]", "must be an object"],
    ["unknown adapter", { name: "a", model: "openai/x", config: { adapter: "xml" } }, "input.config.adapter", "must be one of chat, json, json_schema"],
    ["adapter not a string", { name: "a", model: "openai/x", config: { adapter: 1 } }, "input.config.adapter", "must be one of"],
    ["oversized config", { name: "a", model: "openai/x", config: { blob: "x".repeat(70_000) } }, "input.config", "the limit is 65536"],
  ];
  for (const [title, input, path, reason] of invalid) {
    it(`rejects ${title} (${path}) and writes nothing`, async () => {
      const before = await server().countRows("language_model");
      const error = expectError(await run(CREATE, { input }), "BAD_USER_INPUT", path);
      assert.ok(error.message.includes(reason), `message '${error.message}' lacks '${reason}'`);
      assert.equal(await server().countRows("language_model"), before);
    });
  }

  it("rejects an invalid update and leaves the model unchanged", async () => {
    const lm = expectData(await run(CREATE, { input: { name: "stable", model: "openai/gpt-4o", temperature: 1 } })).createLanguageModel;
    expectError(await run(UPDATE, { input: { id: lm.id, temperature: 9 } }), "BAD_USER_INPUT", "input.temperature");
    expectError(await run(UPDATE, { input: { id: lm.id, model: "dummy" } }), "BAD_USER_INPUT", "input.config.answers");
    const now = expectData(await run(`query($id: ID!) { languageModel(id: $id) { model temperature version } }`, { id: lm.id })).languageModel;
    assert.deepEqual(now, { model: "openai/gpt-4o", temperature: 1, version: 1 });
  });
});

describe("LM wire config", () => {
  const spec = { id: "lm", model: "openai/gemma", apiBase: "http://127.0.0.1:1/v1", temperature: 0, maxTokens: 64, cache: false, secretEnv: null };
  it("passes config.adapter to the worker, and nothing else of config but num_retries; and the egress allow list", () => {
    assert.deepEqual(lmWireConfig({ ...spec, config: { adapter: "json_schema", num_retries: 2, other: 1 } }, {}, undefined, TEST_POLICIES), {
      model: "openai/gemma",
      api_base: "http://127.0.0.1:1/v1",
      temperature: 0,
      max_tokens: 64,
      cache: false,
      num_retries: 2,
      adapter: "json_schema",
      egress_allow: ["127.0.0.0/8", "::1"],
    });
    assert.equal(lmWireConfig({ ...spec, config: null }).adapter, undefined);
  });
});
