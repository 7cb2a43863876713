import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { lmWireConfig } from "../src/adapters/lmWireConfig.js";
import { loadConfig } from "../src/config.js";
import { AppError } from "../src/errors.js";
import { rotateSecrets } from "../src/secrets/rotate.js";
import { decryptSecret, encryptSecret, languageModelAad, loadKeyring, storedKeyId } from "../src/secrets/SecretBox.js";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { expectData, expectError, graphql } from "./support/graphql.js";
import { TEST_POLICIES, type TestServer, databaseTargets, describeEachDatabase, startTestServer } from "./support/harness.js";
import { EXECUTION_FIELDS, predictDefinition } from "./support/stacks.js";

const KEY_A = randomBytes(32).toString("base64");
const KEY_B = randomBytes(32).toString("hex");
const LM_FIELDS = "id name model apiBase hasSecret version";
const CREATE = `mutation($input: CreateLanguageModelInput!) { createLanguageModel(input: $input) { ${LM_FIELDS} } }`;
const UPDATE = `mutation($input: UpdateLanguageModelInput!) { updateLanguageModel(input: $input) { ${LM_FIELDS} } }`;
const secret = () => `sk-test-${randomBytes(12).toString("hex")}`;
const keyring = (env: Record<string, string>) => loadKeyring((name) => env[name]);

async function lmRow(server: TestServer, id: string): Promise<Record<string, unknown>> {
  const rows = (await server.database.dataSource.query("SELECT * FROM language_model WHERE id = ?", [id])) as Record<string, unknown>[];
  return rows[0];
}

describe("SecretBox (AES-256-GCM)", () => {
  const ring = keyring({ SECRETS_KEY: KEY_A });

  it("round-trips, with a fresh IV per value and the key id in the stored form", () => {
    const value = secret();
    const one = encryptSecret(ring, value, "aad");
    const two = encryptSecret(ring, value, "aad");
    assert.notEqual(one, two, "same plaintext, different ciphertexts");
    assert.ok(!one.includes(value));
    assert.equal(storedKeyId(one), ring.current?.id);
    assert.equal(decryptSecret(ring, one, "aad"), value);
  });

  it("fails closed on a tampered value, another row's binding, or an unknown key", () => {
    const stored = encryptSecret(ring, secret(), "row-1");
    const parts = stored.split(":");
    const body = Buffer.from(parts[4], "base64url");
    body[0] ^= 1;
    const tampered = [...parts.slice(0, 4), body.toString("base64url")].join(":");
    for (const [value, aad, reason] of [
      [tampered, "row-1", /failed authentication/],
      [stored, "row-2", /failed authentication/],
      ["not-a-secret", "row-1", /not in the stored form/],
    ] as const) {
      assert.throws(() => decryptSecret(ring, value, aad), (error: unknown) => error instanceof AppError && error.code === "SECRET_UNREADABLE" && reason.test(error.message));
    }
    const other = keyring({ SECRETS_KEY: KEY_B });
    assert.throws(() => decryptSecret(other, stored, "row-1"), /which this instance does not have/);
  });

  it("decrypts with a previous key and encrypts with the current one", () => {
    const old = encryptSecret(ring, "v", "a");
    const rotated = keyring({ SECRETS_KEY: KEY_B, SECRETS_KEY_PREVIOUS: KEY_A });
    assert.equal(decryptSecret(rotated, old, "a"), "v");
    assert.equal(storedKeyId(encryptSecret(rotated, "v", "a")), rotated.current?.id);
  });

  it("LM_SECRET_ENV_ALLOW: names and globs, never a server variable; default *_API_KEY", () => {
    const policy = (raw?: string) => loadConfig(raw === undefined ? {} : { LM_SECRET_ENV_ALLOW: raw }).secretEnv;
    assert.ok(policy().allows("OPENAI_API_KEY") && !policy().allows("AUTH_JWT_SECRET") && !policy().allows("MY_TOKEN"));
    const mine = policy("MY_*, OTHER_KEY");
    assert.ok(mine.allows("MY_TOKEN") && mine.allows("OTHER_KEY") && !mine.allows("OPENAI_API_KEY"));
    const everything = policy("*");
    assert.ok(everything.allows("ANY_NAME"));
    for (const name of ["AUTH_JWT_SECRET", "SECRETS_KEY", "DATABASE_URL", "MONGO_URL", "LM_SECRET_ENV_ALLOW"]) assert.ok(!everything.allows(name), name);
    assert.ok(!policy("none").allows("OPENAI_API_KEY"));
    // Even allowed by a glob, a name that is an Object.prototype member is not an environment variable.
    const spec = { id: "lm", tenantId: "t", model: "openai/x", apiBase: null, temperature: null, maxTokens: null, cache: false, secretEnv: "toString", config: null };
    assert.equal(lmWireConfig(spec, {}, undefined, { secretEnv: everything, egress: TEST_POLICIES.egress }).api_key, undefined);
    for (const raw of ["SECRETS_KEY", "OPENAI_API_KEY,AUTH_JWT_SECRET", "bad-name", "A B"]) {
      assert.throws(() => policy(raw), (error: unknown) => error instanceof AppError && error.code === "BAD_CONFIG" && /LM_SECRET_ENV_ALLOW/.test(error.message), raw);
    }
  });

  it("refuses keys that are not 32 bytes at start (BAD_CONFIG)", () => {
    for (const env of [{ SECRETS_KEY: "short" }, { SECRETS_KEY: randomBytes(16).toString("base64") }, { SECRETS_KEY: KEY_A, SECRETS_KEY_PREVIOUS: "nope" }, { SECRETS_KEY_PREVIOUS: KEY_A }]) {
      assert.throws(() => loadConfig(env), (error: unknown) => error instanceof AppError && error.code === "BAD_CONFIG" && /SECRETS_KEY/.test(error.message));
    }
    assert.ok(loadConfig({ SECRETS_KEY: KEY_B }).secrets.current);
  });
});

describeEachDatabase(
  "stored API keys",
  (server) => {
    const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);

    it("stores the key encrypted, reports only hasSecret, and never returns it", async () => {
      const value = secret();
      const lm = expectData(await run(CREATE, { input: { name: "stored", model: "openai/gpt-4o-mini", apiKey: value } })).createLanguageModel;
      assert.equal(lm.hasSecret, true);
      const row = await lmRow(server(), lm.id);
      const stored = String(row.apiKeyEncrypted);
      assert.match(stored, /^v1:[0-9a-f]{16}:/);
      assert.ok(!JSON.stringify(row).includes(value), "the raw row holds ciphertext only");
      assert.equal(decryptSecret(keyring({ SECRETS_KEY: KEY_A }), stored, languageModelAad(String(row.tenantId), lm.id)), value);
      // Not an output field anywhere.
      expectError(await run(`query($id: ID!) { languageModel(id: $id) { apiKey } }`, { id: lm.id }), "GRAPHQL_VALIDATION_FAILED");
      const everything = JSON.stringify([await run(`{ languageModels(first: 100) { edges { node { ${LM_FIELDS} config } } } }`), lm]);
      assert.ok(!everything.includes(value) && !everything.includes(stored));
    });

    it("refuses apiKey together with secretEnv, at input.apiKey, without echoing the key", async () => {
      const value = secret();
      const error = expectError(await run(CREATE, { input: { name: "both", model: "openai/x", apiKey: value, secretEnv: "OPENAI_API_KEY" } }), "BAD_USER_INPUT", "input.apiKey");
      assert.ok(!JSON.stringify(error).includes(value));
      const withEnv = expectData(await run(CREATE, { input: { name: "env-one", model: "openai/x", secretEnv: "OPENAI_API_KEY" } })).createLanguageModel;
      expectError(await run(UPDATE, { input: { id: withEnv.id, apiKey: value } }), "BAD_USER_INPUT", "input.apiKey");
      const switched = expectData(await run(UPDATE, { input: { id: withEnv.id, apiKey: value, secretEnv: null } })).updateLanguageModel;
      assert.equal(switched.hasSecret, true);
      assert.equal((await lmRow(server(), withEnv.id)).secretEnv, null);
    });

    it("refuses a secretEnv that names a server variable or one the operator did not allow, at create and update; nothing written", async () => {
      for (const name of ["AUTH_JWT_SECRET", "SECRETS_KEY", "SECRETS_KEY_PREVIOUS", "DATABASE_URL", "MONGO_URL", "MY_TOKEN", "PATH"]) {
        const before = await server().countRows("language_model");
        const error = expectError(await run(CREATE, { input: { name: `env-${name}`, model: "openai/x", secretEnv: name } }), "BAD_USER_INPUT", "input.secretEnv");
        assert.match(error.message, new RegExp(`'${name}' is (one of the server's own variables|not a variable the operator allowed for language models \\(LM_SECRET_ENV_ALLOW: \\*_API_KEY\\))`));
        assert.equal(await server().countRows("language_model"), before, "nothing written");
      }
      const lm = expectData(await run(CREATE, { input: { name: "env-ok", model: "openai/x", secretEnv: "ANTHROPIC_API_KEY" } })).createLanguageModel;
      expectError(await run(UPDATE, { input: { id: lm.id, secretEnv: "AUTH_JWT_SECRET" } }), "BAD_USER_INPUT", "input.secretEnv");
      assert.equal((await lmRow(server(), lm.id)).secretEnv, "ANTHROPIC_API_KEY", "unchanged");
    });

    it("will not redirect a stored key: a new apiBase or provider needs the key again (or apiKey: null); nothing written", async () => {
      const lm = expectData(await run(CREATE, { input: { name: "redirect", model: "openai/x", apiBase: "https://api.example.com/v1", apiKey: secret() } })).createLanguageModel;
      const before = await lmRow(server(), lm.id);
      for (const input of [{ apiBase: "https://attacker.example/v1" }, { apiBase: null }, { model: "anthropic/claude" }]) {
        const error = expectError(await run(UPDATE, { input: { id: lm.id, ...input } }), "BAD_USER_INPUT", "input.apiKey");
        assert.match(error.message, /needs the key again in the same update \(apiKey\), or apiKey: null to clear it/);
        assert.deepEqual(await lmRow(server(), lm.id), before, `unchanged after ${JSON.stringify(input)}`);
      }
      expectData(await run(UPDATE, { input: { id: lm.id, model: "openai/y", temperature: 0.5 } }));
      expectData(await run(UPDATE, { input: { id: lm.id, apiBase: "https://other.example/v1", apiKey: secret() } }));
      const cleared = expectData(await run(UPDATE, { input: { id: lm.id, apiBase: "https://third.example/v1", apiKey: null } })).updateLanguageModel;
      assert.equal(cleared.hasSecret, false);
    });

    it("replaces the key on update and clears it with null", async () => {
      const lm = expectData(await run(CREATE, { input: { name: "replace", model: "openai/x", apiKey: secret() } })).createLanguageModel;
      const before = String((await lmRow(server(), lm.id)).apiKeyEncrypted);
      expectData(await run(UPDATE, { input: { id: lm.id, apiKey: secret() } }));
      assert.notEqual(String((await lmRow(server(), lm.id)).apiKeyEncrypted), before);
      const cleared = expectData(await run(UPDATE, { input: { id: lm.id, apiKey: null } })).updateLanguageModel;
      assert.equal(cleared.hasSecret, false);
      assert.equal((await lmRow(server(), lm.id)).apiKeyEncrypted, null);
    });

    it("secrets:rotate re-encrypts every stored key with the new key; the old key can then be dropped", async () => {
      const value = secret();
      const lm = expectData(await run(CREATE, { input: { name: "rotate-me", model: "openai/x", apiKey: value } })).createLanguageModel;
      const oldRing = keyring({ SECRETS_KEY: KEY_A });
      const rotating = keyring({ SECRETS_KEY: KEY_B, SECRETS_KEY_PREVIOUS: KEY_A });
      const report = await rotateSecrets(server().database, rotating);
      assert.ok(report.rotated >= 1 && report.failed.length === 0, JSON.stringify(report));
      const row = await lmRow(server(), lm.id);
      const stored = String(row.apiKeyEncrypted);
      const newOnly = keyring({ SECRETS_KEY: KEY_B });
      assert.equal(storedKeyId(stored), newOnly.current?.id);
      assert.equal(decryptSecret(newOnly, stored, languageModelAad(String(row.tenantId), lm.id)), value, "readable with the new key alone");
      assert.throws(() => decryptSecret(oldRing, stored, languageModelAad(String(row.tenantId), lm.id)), /does not have/);
      const again = await rotateSecrets(server().database, newOnly);
      assert.equal(again.rotated, 0);
      assert.equal(again.current, again.total);
      // Put this suite's rows back under KEY_A (the server's key) for the cases after this one.
      await rotateSecrets(server().database, keyring({ SECRETS_KEY: KEY_A, SECRETS_KEY_PREVIOUS: KEY_B }));
    });
  },
  { SECRETS_KEY: KEY_A },
);

describe("stored API keys without SECRETS_KEY [sqlite]", function () {
  this.timeout(60_000);
  let server: TestServer | undefined;
  before(async () => {
    server = await startTestServer(databaseTargets()[0]);
  });
  after(async () => server?.stop());

  it("refuses apiKey with BAD_USER_INPUT saying how to configure SECRETS_KEY; secretEnv still works", async () => {
    const error = expectError(await graphql(server!.url, CREATE, { input: { name: "nokey", model: "openai/x", apiKey: secret() } }), "BAD_USER_INPUT", "input.apiKey");
    assert.match(error.message, /SECRETS_KEY/);
    assert.equal(await server!.countRows("language_model"), 0, "nothing written");
    expectData(await graphql(server!.url, CREATE, { input: { name: "env", model: "openai/x", secretEnv: "OPENAI_API_KEY" } }));
  });
});

/**
 * The whole path with real DSPy: the key reaches the LM (the fake server sees it in Authorization)
 * and appears nowhere else: GraphQL responses, this process's stdout/stderr, the worker's stderr,
 * the stored trace, the raw rows (language model, execution, events, audit trail when present).
 */
describe("a stored API key through a real Python worker [sqlite]", function () {
  this.timeout(120_000);
  let server: TestServer | undefined;
  let lm: Awaited<ReturnType<typeof startFakeOpenAI>> | undefined;
  let captured = "";
  const writes = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  const capture = (original: typeof process.stdout.write) =>
    ((chunk: unknown, ...rest: unknown[]) => {
      captured += typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8");
      return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write;

  /** In this process's environment while the server runs: a worker must inherit neither. */
  const inherited = { OPENAI_API_KEY: `sk-env-${randomBytes(8).toString("hex")}`, AUTH_JWT_SECRET: `jwt-${randomBytes(16).toString("hex")}` };
  /** Keys the fake LM repeats in its 401 answer, as a provider's "Incorrect API key provided: …" does. */
  const echoed = new Set<string>();

  before(async () => {
    process.stdout.write = capture(writes.out);
    process.stderr.write = capture(writes.err);
    Object.assign(process.env, inherited);
    lm = await startFakeOpenAI(({ prompt }) => {
      const key = prompt.includes("echo-my-key") ? [...echoed][0] : undefined;
      if (key) return { status: 401, errorMessage: `Incorrect API key provided: ${key}. You can find your API key at https://example.invalid.` };
      return { fields: { answer: prompt.includes("France") ? "Paris" : "ok" } };
    });
    // Every log line the server writes (per request, per transition), not only warnings: none may carry the key.
    server = await startTestServer(databaseTargets()[0], { DSPY_ADAPTER: "python", WORKERS: "1", SECRETS_KEY: KEY_A, LOG_INTERNAL_ERRORS: "1", LOG_LEVEL: "trace" });
  });
  after(async () => {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    for (const name of Object.keys(inherited)) delete process.env[name];
    await server?.stop();
    await lm?.close();
  });

  /** Runs a Predict program on a new model `lm` (create input) and waits for the execution. */
  async function runOn(input: Record<string, unknown>, question: string): Promise<any> {
    const created = expectData(await graphql(server!.url, CREATE, { input: { cache: false, ...input } })).createLanguageModel;
    const program = expectData(
      await graphql(server!.url, `mutation($d: JSON!, $lm: ID!, $n: String!) { createProgram(input: { name: $n, definition: $d, languageModelId: $lm }) { id } }`, {
        d: predictDefinition(),
        lm: created.id,
        n: `${String(input.name)}-program`,
      }),
    ).createProgram;
    return expectData(
      await graphql(server!.url, `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { ${EXECUTION_FIELDS} } }`, { input: { programId: program.id, inputs: { question, n: 1 }, wait: true } }),
    ).executeProgram;
  }

  it("a provider error that repeats the key is scrubbed from the execution's error, trace and rows", async () => {
    const value = secret();
    echoed.add(value);
    try {
      const done = await runOn({ name: "echoed", model: "openai/echoed", apiBase: lm!.url, apiKey: value }, "echo-my-key please");
      assert.equal(done.status, "FAILED");
      assert.equal(done.error.layer, "lm");
      assert.match(done.error.message, /Incorrect API key provided: \[REDACTED\]/);
      const stored = JSON.stringify(await server!.database.dataSource.query("SELECT error, trace FROM execution WHERE id = ?", [done.id]));
      const full = expectData(await graphql(server!.url, `query($id: ID!) { execution(id: $id) { error { code message details } trace events { reason } } }`, { id: done.id })).execution;
      for (const [place, text] of Object.entries({ "the GraphQL execution": JSON.stringify([done, full]), "the stored row": stored, "the logs": captured })) {
        assert.ok(!text.includes(value), `the key appears in ${place}`);
      }
      assert.ok(JSON.stringify(full.error.details).includes("[REDACTED]"), "the details kept the provider's message, redacted");
    } finally {
      echoed.delete(value);
    }
  });

  it("a stored secretEnv the policy does not allow fails the execution before anything is sent", async () => {
    const created = expectData(await graphql(server!.url, CREATE, { input: { name: "exfil", model: "openai/exfil", apiBase: lm!.url, cache: false, secretEnv: "OPENAI_API_KEY" } })).createLanguageModel;
    // As if written before the policy existed: the row names the server's JWT secret.
    await server!.database.dataSource.query("UPDATE language_model SET secretEnv = ? WHERE id = ?", ["AUTH_JWT_SECRET", created.id]);
    const program = expectData(
      await graphql(server!.url, `mutation($d: JSON!, $lm: ID!) { createProgram(input: { name: "exfil-program", definition: $d, languageModelId: $lm }) { id } }`, { d: predictDefinition(), lm: created.id }),
    ).createProgram;
    const sent = lm!.requests;
    const done = expectData(
      await graphql(server!.url, `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { ${EXECUTION_FIELDS} } }`, { input: { programId: program.id, inputs: { question: "q", n: 1 }, wait: true } }),
    ).executeProgram;
    assert.equal(done.status, "FAILED");
    assert.deepEqual([done.error.code, done.error.layer, done.error.retriable], ["SECRET_ENV_NOT_ALLOWED", "lm", false]);
    assert.equal(lm!.requests, sent, "nothing was sent to the LM");
    assert.ok(!lm!.authorizations.some((a) => a?.includes(inherited.AUTH_JWT_SECRET)));
  });

  it("a worker inherits none of the server's environment: a model without a key never sends OPENAI_API_KEY", async () => {
    const done = await runOn({ name: "keyless", model: "openai/keyless", apiBase: lm!.url }, "capital of France?");
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    const last = lm!.authorizations[lm!.authorizations.length - 1];
    assert.equal(last, "Bearer no-key-needed");
    assert.ok(!lm!.authorizations.some((a) => a?.includes(inherited.OPENAI_API_KEY) || a?.includes(inherited.AUTH_JWT_SECRET)));
  });

  it("reaches the LM inside the request and appears in no response, log, trace or row", async () => {
    const url = server!.url;
    const value = secret();
    const responses: unknown[] = [];
    const run = async (query: string, variables: Record<string, unknown> = {}) => {
      const response = await graphql(url, query, variables);
      responses.push(response);
      return response;
    };
    const created = expectData(await run(CREATE, { input: { name: "keyed", model: "openai/keyed", apiBase: lm!.url, cache: false, apiKey: value } })).createLanguageModel;
    const program = expectData(
      await run(`mutation($d: JSON!, $lm: ID!) { createProgram(input: { name: "keyed-program", definition: $d, languageModelId: $lm }) { id } }`, { d: predictDefinition(), lm: created.id }),
    ).createProgram;
    const done = expectData(
      await run(`mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { ${EXECUTION_FIELDS} languageModel { ${LM_FIELDS} } } }`, {
        input: { programId: program.id, inputs: { question: "capital of France?", n: 1 }, wait: true },
      }),
    ).executeProgram;
    assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
    assert.deepEqual(done.outputs, { answer: "Paris" });
    assert.ok(done.trace.length > 0 && done.trace[0].lm_calls.length > 0, "the trace recorded the LM call");
    assert.equal(lm!.authorizations[lm!.authorizations.length - 1], `Bearer ${value}`, "the key reached the LM");

    await run(`query($id: ID!) { execution(id: $id) { ${EXECUTION_FIELDS} } languageModel(id: "${created.id}") { ${LM_FIELDS} config } }`, { id: done.id });
    await run(`query($r: [_Any!]!) { _entities(representations: $r) { ... on LanguageModel { ${LM_FIELDS} } ... on Execution { id trace } } }`, {
      r: [{ __typename: "LanguageModel", id: created.id }, { __typename: "Execution", id: done.id }],
    });

    const pool = (server!.adapter as unknown as { pool: { slots: { process?: { stderr(): string } }[] } }).pool;
    const workerStderr = pool.slots.map((slot) => slot.process?.stderr() ?? "").join("\n");
    const dump = async (table: string) => {
      const exists = (await server!.database.dataSource.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?`, [table])) as unknown[];
      return exists.length ? JSON.stringify(await server!.database.dataSource.query(`SELECT * FROM ${table}`)) : "";
    };
    const places: Record<string, string> = {
      "GraphQL responses": JSON.stringify(responses),
      "this process's stdout/stderr": captured,
      "the worker's stderr": workerStderr,
      "the stored trace": JSON.stringify(done.trace),
      "language_model rows": await dump("language_model"),
      "execution rows": await dump("execution"),
      "execution_event rows": await dump("execution_event"),
      "audit_event rows": await dump("audit_event"),
    };
    for (const [place, text] of Object.entries(places)) assert.ok(!text.includes(value), `the key appears in ${place}`);
    assert.ok((await dump("language_model")).includes("v1:"), "stored as ciphertext");
  });

  it("a tampered stored key fails the execution closed, with a clear message and no crash", async () => {
    const url = server!.url;
    const value = secret();
    const created = expectData(await graphql(url, CREATE, { input: { name: "tampered", model: "openai/tampered", apiBase: lm!.url, cache: false, apiKey: value } })).createLanguageModel;
    const row = await lmRow(server!, created.id);
    const parts = String(row.apiKeyEncrypted).split(":");
    const body = Buffer.from(parts[4], "base64url");
    body[body.length - 1] ^= 0x55;
    await server!.database.dataSource.query("UPDATE language_model SET apiKeyEncrypted = ? WHERE id = ?", [[...parts.slice(0, 4), body.toString("base64url")].join(":"), created.id]);
    const program = expectData(
      await graphql(url, `mutation($d: JSON!, $lm: ID!) { createProgram(input: { name: "tampered-program", definition: $d, languageModelId: $lm }) { id } }`, { d: predictDefinition(), lm: created.id }),
    ).createProgram;
    const requestsBefore = lm!.requests;
    const done = expectData(
      await graphql(url, `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { ${EXECUTION_FIELDS} } }`, { input: { programId: program.id, inputs: { question: "q", n: 1 }, wait: true } }),
    ).executeProgram;
    assert.equal(done.status, "FAILED");
    assert.equal(done.error.code, "SECRET_UNREADABLE");
    assert.equal(done.error.retriable, false);
    assert.match(done.error.message, /could not be decrypted/);
    assert.ok(!JSON.stringify(done).includes(value));
    assert.equal(lm!.requests, requestsBefore, "nothing was sent to the LM");
    // The server is still serving.
    expectData(await graphql(url, `{ languageModels(first: 1) { totalCount } }`));
  });
});
