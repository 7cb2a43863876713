import assert from "node:assert/strict";
import dns from "node:dns/promises";
import net from "node:net";
import os from "node:os";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { expectData, expectError, graphql } from "./support/graphql.js";
import { type TestServer, databaseTargets, startTestServer } from "./support/harness.js";
import { EXECUTION_FIELDS, predictDefinition } from "./support/stacks.js";

/** README "Egress": where a language model's apiBase may point. */
const CREATE = `mutation($input: CreateLanguageModelInput!) { createLanguageModel(input: $input) { id apiBase } }`;
const UPDATE = `mutation($input: UpdateLanguageModelInput!) { updateLanguageModel(input: $input) { id apiBase } }`;

const REFUSED = [
  "http://169.254.169.254/latest/meta-data/",
  "http://2852039166/v1", // 169.254.169.254 as one decimal number
  "http://0xa9.0xfe.0xa9.0xfe/v1",
  "http://[::ffff:169.254.169.254]/v1",
  "http://[fd00:ec2::254]/v1",
  "http://127.0.0.1:8080/v1",
  "http://127.1/v1",
  "http://0x7f.1/v1",
  "http://017700000001/v1",
  "http://[::1]:8080/v1",
  "http://0.0.0.0:80/v1",
  "http://10.0.0.5/v1",
  "http://172.16.3.4/v1",
  "http://192.168.1.10/v1",
  "http://100.64.0.1/v1",
  "http://[fe80::1]/v1",
  "http://localhost:8000/v1",
  "http://api.localhost/v1",
];

describe("egress policy for apiBase, as written [sqlite]", function () {
  this.timeout(60_000);
  let server: TestServer | undefined;
  before(async () => {
    server = await startTestServer(databaseTargets()[0], { LM_EGRESS_ALLOW: "none" });
  });
  after(async () => server?.stop());

  it("refuses loopback, private, link-local (metadata) and reserved addresses in any spelling; nothing written", async () => {
    for (const apiBase of REFUSED) {
      const error = expectError(await graphql(server!.url, CREATE, { input: { name: `lm-${apiBase}`, model: "openai/x", apiBase } }), "BAD_USER_INPUT", "input.apiBase");
      assert.match(error.message, /may not point there unless the operator allows it \(LM_EGRESS_ALLOW\)/, apiBase);
    }
    assert.equal(await server!.countRows("language_model"), 0, "nothing written");
    const ok = expectData(await graphql(server!.url, CREATE, { input: { name: "public", model: "openai/x", apiBase: "https://api.openai.com/v1" } })).createLanguageModel;
    const error = expectError(await graphql(server!.url, UPDATE, { input: { id: ok.id, apiBase: "http://169.254.169.254/" } }), "BAD_USER_INPUT", "input.apiBase");
    assert.match(error.message, /169\.254\.169\.254/);
    const rows = (await server!.database.dataSource.query("SELECT apiBase FROM language_model WHERE id = ?", [ok.id])) as { apiBase: string }[];
    assert.equal(rows[0].apiBase, "https://api.openai.com/v1", "unchanged");
  });

  it("LM_EGRESS_ALLOW admits what the operator names, and only that", async () => {
    const allowing = await startTestServer(databaseTargets()[0], { LM_EGRESS_ALLOW: "127.0.0.0/8, llm.internal" });
    try {
      expectData(await graphql(allowing.url, CREATE, { input: { name: "loop", model: "openai/x", apiBase: "http://127.0.0.1:8080/v1" } }));
      expectError(await graphql(allowing.url, CREATE, { input: { name: "meta", model: "openai/x", apiBase: "http://169.254.169.254/" } }), "BAD_USER_INPUT", "input.apiBase");
    } finally {
      await allowing.stop();
    }
  });
});

describe("egress policy on the resolved address, in a real worker [sqlite]", function () {
  this.timeout(120_000);
  let server: TestServer | undefined;
  let lm: Awaited<ReturnType<typeof startFakeOpenAI>> | undefined;
  before(async () => {
    lm = await startFakeOpenAI(() => ({ fields: { answer: "reached" } }));
    server = await startTestServer(databaseTargets()[0], { DSPY_ADAPTER: "python", WORKERS: "1", LM_EGRESS_ALLOW: "none" });
  });
  after(async () => {
    await server?.stop();
    await lm?.close();
  });

  it("refuses a host name that resolves to loopback at connect time (LM_EGRESS_REFUSED, not retried), sending nothing", async () => {
    const host = os.hostname();
    const { address } = await dns.lookup(host);
    assert.ok(net.isIP(address) && (address.startsWith("127.") || address === "::1"), `this test needs ${host} to resolve to loopback, got ${address}`);
    const port = new URL(lm!.url).port;
    const created = expectData(await graphql(server!.url, CREATE, { input: { name: "by-name", model: "openai/by-name", apiBase: `http://${host}:${port}/v1`, cache: false } })).createLanguageModel;
    const program = expectData(
      await graphql(server!.url, `mutation($d: JSON!, $lm: ID!) { createProgram(input: { name: "by-name", definition: $d, languageModelId: $lm }) { id } }`, { d: predictDefinition(), lm: created.id }),
    ).createProgram;
    const done = expectData(
      await graphql(server!.url, `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { ${EXECUTION_FIELDS} } }`, { input: { programId: program.id, inputs: { question: "q", n: 1 }, wait: true } }),
    ).executeProgram;
    assert.equal(done.status, "FAILED", JSON.stringify(done));
    assert.deepEqual([done.error.code, done.error.layer, done.error.retriable], ["LM_EGRESS_REFUSED", "lm", false]);
    assert.match(done.error.message, /resolves to 127\.0\.0\.1/);
    assert.equal(done.attempt, 1, "not retried");
    assert.equal(lm!.requests, 0, "nothing reached the endpoint");
  });
});
