import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createClient } from "graphql-ws";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import WebSocket from "ws";
import { Role } from "../src/auth/roles.js";
import { loadConfig } from "../src/config.js";
import { AppError } from "../src/errors.js";
import { assertNoInternals, expectData, expectError, graphql } from "./support/graphql.js";
import { describeEachDatabase, startTestServer, type TestServer } from "./support/harness.js";
import { dummyLm, predictDefinition } from "./support/stacks.js";

const SECRET = "auth-test-secret-0123456789abcdef-0123456789abcdef";
const ISSUER = "https://issuer.example.test/";
const AUDIENCE = "dspy-subgraph";
const AUTH_ENV = { AUTH_JWT_SECRET: SECRET, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE };
const TENANT_A = "tenant-a";
const TENANT_B = "tenant-b";

interface TokenOptions {
  sub?: string | null;
  tenant?: string | null;
  role?: string | null;
  iss?: string;
  aud?: string;
  /** Seconds from now; negative for an expired token; null for no `exp`. */
  expIn?: number | null;
  alg?: string;
  key?: Parameters<SignJWT["sign"]>[0];
}

async function token(options: TokenOptions = {}): Promise<string> {
  const claims: Record<string, unknown> = {};
  if (options.tenant !== null) claims.tenant_id = options.tenant ?? TENANT_A;
  if (options.role !== null) claims.role = options.role ?? "admin";
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? "HS256", typ: "JWT" })
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? AUDIENCE)
    .setIssuedAt();
  if (options.sub !== null) jwt.setSubject(options.sub ?? "alice");
  if (options.expIn !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + (options.expIn ?? 300));
  return jwt.sign(options.key ?? new TextEncoder().encode(SECRET));
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
/** An unsigned token, written by hand: header {"alg":"none"} and an empty signature. */
function unsignedToken(): string {
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "mallory", tenant_id: TENANT_A, role: "admin", iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 300 })}.`;
}

const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` });

const LM = `mutation($lm: CreateLanguageModelInput!) { createLanguageModel(input: $lm) { id } }`;
const CREATE_PROGRAM = `mutation($n: String!, $d: JSON!, $lm: ID) { createProgram(input: { name: $n, definition: $d, languageModelId: $lm }) { id version currentVersion { id } } }`;
const UPDATE_PROGRAM = `mutation($id: ID!) { updateProgram(input: { id: $id, name: "renamed" }) { id name } }`;
const DELETE_PROGRAM = `mutation($id: ID!) { deleteProgram(id: $id) }`;
const EXECUTE = `mutation($id: ID!) { executeProgram(input: { programId: $id, inputs: { question: "capital of France?", n: 1 }, wait: true }) { id status outputs } }`;
const PROGRAM = `query($id: ID!) { program(id: $id) { id name version } }`;
const PROGRAMS = `{ programs(first: 100) { totalCount edges { node { id name } } } }`;
const CREATE_KEY = `mutation($name: String!, $role: Role!) { createApiKey(input: { name: $name, role: $role }) { secret apiKey { id name role prefix createdAt revokedAt lastUsedAt } } }`;
const API_KEYS = `query($all: Boolean) { apiKeys(first: 100, includeRevoked: $all) { totalCount edges { node { id name role prefix createdAt revokedAt lastUsedAt version } } } }`;
const REVOKE_KEY = `mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`;

/** Resolves with how a graphql-ws subscription ended: its data, its GraphQL errors, or the socket's close. */
function subscribeOnce(url: string, connectionParams: Record<string, unknown> | undefined, query: string, variables: Record<string, unknown>, timeoutMs = 5_000) {
  const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, connectionParams });
  const received: unknown[] = [];
  let connected = false;
  client.on("connected", () => (connected = true));
  const ended = new Promise<{ data: unknown[]; errors?: any[]; close?: { code: number; reason: string } }>((resolve) => {
    const timer = setTimeout(() => resolve({ data: received }), timeoutMs);
    client.subscribe(
      { query, variables },
      {
        next: (value) => {
          if (value.errors) {
            clearTimeout(timer);
            resolve({ data: received, errors: value.errors as any[] });
          } else received.push(value.data);
        },
        error: (error: any) => {
          clearTimeout(timer);
          if (Array.isArray(error)) resolve({ data: received, errors: error });
          else resolve({ data: received, close: { code: error?.code, reason: String(error?.reason ?? error?.message ?? "") } });
        },
        complete: () => {
          clearTimeout(timer);
          resolve({ data: received });
        },
      },
    );
  });
  return { ended, client, isConnected: () => connected };
}

describeEachDatabase(
  "authentication and roles",
  (server) => {
    const run = (query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) => graphql(server().url, query, variables, headers);
    let admin: Record<string, string>;
    let adminB: Record<string, string>;
    let lmA: string;
    let programA: { id: string; version: number; currentVersion: { id: string } };
    let executionA: { id: string; status: string };

    const counts = async () => {
      const tables = ["program", "program_version", "language_model", "dataset", "execution", "execution_event", "api_key"];
      return Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await server().countRows(t)])));
    };

    before(async () => {
      admin = bearer(await token({ tenant: TENANT_A, role: "admin" }));
      adminB = bearer(await token({ tenant: TENANT_B, role: "admin", sub: "bob" }));
      lmA = expectData(await run(LM, { lm: { name: "lm-a", ...dummyLm({ France: { answer: "Paris" } }) } }, admin)).createLanguageModel.id;
      programA = expectData(await run(CREATE_PROGRAM, { n: "program-a", d: predictDefinition(), lm: lmA }, admin)).createProgram;
      executionA = expectData(await run(EXECUTE, { id: programA.id }, admin)).executeProgram;
      assert.equal(executionA.status, "COMPLETED");
    });

    describe("bearer tokens", () => {
      it("accept a valid HS256 token with issuer, audience, expiry, tenant_id and role", async () => {
        const data = expectData(await run(PROGRAMS, {}, admin));
        assert.deepEqual(data.programs.edges.map((e: any) => e.node.id), [programA.id]);
      });

      const refusals: [string, () => Promise<Record<string, string>>, RegExp][] = [
        ["no credentials at all", async () => ({}), /no credentials/],
        ["a forged signature (another secret)", async () => bearer(await token({ key: new TextEncoder().encode("another-secret-0123456789abcdef-0123456789") })), /bad signature/],
        ["a tampered payload", async () => {
          const [h, , s] = (await token({ role: "viewer" })).split(".");
          return bearer(`${h}.${b64({ sub: "alice", tenant_id: TENANT_A, role: "admin", iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 })}.${s}`);
        }, /bad signature/],
        ["an expired token", async () => bearer(await token({ expIn: -3600 })), /token expired/],
        ["a token without exp", async () => bearer(await token({ expIn: null })), /exp/],
        ["the wrong issuer", async () => bearer(await token({ iss: "https://evil.example.test/" })), /wrong issuer/],
        ["the wrong audience", async () => bearer(await token({ aud: "another-service" })), /wrong audience/],
        ["alg: none (hand-made, unsigned)", async () => bearer(unsignedToken()), /algorithm refused/],
        ["HS512 when HS256 is expected", async () => bearer(await token({ alg: "HS512" })), /algorithm refused/],
        ["RS256 when HS256 is expected", async () => bearer(await token({ alg: "RS256", key: (await generateKeyPair("RS256")).privateKey })), /algorithm refused/],
        ["a token without tenant_id", async () => bearer(await token({ tenant: null })), /tenant_id/],
        ["a token without role", async () => bearer(await token({ role: null })), /no 'role' claim/],
        ["a token without sub", async () => bearer(await token({ sub: null })), /sub/],
        ["an unknown role", async () => bearer(await token({ role: "superuser" })), /unknown role/],
        ["a non-Bearer Authorization header", async () => ({ authorization: `Basic ${Buffer.from("a:b").toString("base64")}` }), /Bearer/],
        ["garbage in place of a token", async () => bearer("not.a.jwt"), /malformed|invalid/],
        ["an unknown API key", async () => ({ "x-api-key": "dspy_unknown0000000000000000000000000000000000" }), /unknown API key/],
        ["both a token and an API key", async () => ({ ...admin, "x-api-key": "dspy_whatever" }), /not both/],
      ];
      for (const [name, headers, reason] of refusals) {
        it(`refuse ${name}: UNAUTHENTICATED with the reason, nothing read or written`, async () => {
          const h = await headers();
          const before = await counts();
          const read = await run(PROGRAMS, {}, h);
          const error = expectError(read, "UNAUTHENTICATED");
          assert.match(error.message, reason);
          assert.equal(read.data, null, "no data leaked");
          assert.ok(!JSON.stringify(read).includes(programA.id));
          expectError(await run(CREATE_PROGRAM, { n: "intruder", d: predictDefinition(), lm: lmA }, h), "UNAUTHENTICATED");
          expectError(await run(UPDATE_PROGRAM, { id: programA.id }, h), "UNAUTHENTICATED");
          expectError(await run(EXECUTE, { id: programA.id }, h), "UNAUTHENTICATED");
          expectError(await run(`query($r: [_Any!]!) { _entities(representations: $r) { ... on Program { id name } } }`, { r: [{ __typename: "Program", id: programA.id }] }, h), "UNAUTHENTICATED");
          assert.deepEqual(await counts(), before);
          assert.equal(expectData(await run(PROGRAM, { id: programA.id }, admin)).program.name, "program-a");
        });
      }

      it("still answer _service (the SDL) without credentials, so a gateway can compose", async () => {
        const data = expectData(await run(`{ _service { sdl } }`));
        assert.match(data._service.sdl, /type Program/);
      });
    });

    describe("roles", () => {
      it("viewer reads but cannot execute or edit: FORBIDDEN, and nothing written", async () => {
        const viewer = bearer(await token({ role: "viewer", sub: "vic" }));
        assert.equal(expectData(await run(PROGRAM, { id: programA.id }, viewer)).program.id, programA.id);
        assert.equal(expectData(await run(`query($id: ID!) { execution(id: $id) { id status } }`, { id: executionA.id }, viewer)).execution.status, "COMPLETED");
        const before = await counts();
        for (const [query, variables] of [
          [EXECUTE, { id: programA.id }],
          [`mutation($id: ID!) { cancelExecution(id: $id) { id } }`, { id: executionA.id }],
          [`mutation($id: ID!) { retryExecution(id: $id) { id } }`, { id: executionA.id }],
          [CREATE_PROGRAM, { n: "by-viewer", d: predictDefinition(), lm: lmA }],
          [UPDATE_PROGRAM, { id: programA.id }],
          [DELETE_PROGRAM, { id: programA.id }],
          [LM, { lm: { name: "by-viewer", model: "dummy" } }],
          [`mutation($id: ID!) { updateLanguageModel(input: { id: $id, name: "x" }) { id } }`, { id: lmA }],
          [`mutation { createDataset(input: { name: "by-viewer" }) { id } }`, {}],
          [CREATE_KEY, { name: "by-viewer", role: "ADMIN" }],
          [API_KEYS, {}],
        ] as const) {
          const error = expectError(await run(query, variables, viewer), "FORBIDDEN");
          assert.match(error.message, /needs the (runner|editor|admin) role; the caller is viewer/);
        }
        assert.deepEqual(await counts(), before);
        const program = expectData(await run(PROGRAM, { id: programA.id }, admin)).program;
        assert.deepEqual([program.name, program.version], ["program-a", programA.version]);
      });

      it("runner executes but cannot edit", async () => {
        const runner = bearer(await token({ role: "runner", sub: "rita" }));
        const execution = expectData(await run(EXECUTE, { id: programA.id }, runner)).executeProgram;
        assert.deepEqual(execution.outputs, { answer: "Paris" });
        const before = await counts();
        expectError(await run(UPDATE_PROGRAM, { id: programA.id }, runner), "FORBIDDEN");
        expectError(await run(CREATE_PROGRAM, { n: "by-runner", d: predictDefinition() }, runner), "FORBIDDEN");
        expectError(await run(DELETE_PROGRAM, { id: programA.id }, runner), "FORBIDDEN");
        expectError(await run(`mutation { createDataset(input: { name: "by-runner" }) { id } }`, {}, runner), "FORBIDDEN");
        assert.deepEqual(await counts(), before);
      });

      it("editor manages programs, language models and datasets, but not API keys", async () => {
        const editor = bearer(await token({ role: "editor", sub: "ed" }));
        const program = expectData(await run(CREATE_PROGRAM, { n: "by-editor", d: predictDefinition(), lm: lmA }, editor)).createProgram;
        expectData(await run(`mutation { createDataset(input: { name: "by-editor" }) { id } }`, {}, editor));
        expectData(await run(DELETE_PROGRAM, { id: program.id }, editor));
        const before = await counts();
        expectError(await run(CREATE_KEY, { name: "by-editor", role: "VIEWER" }, editor), "FORBIDDEN");
        expectError(await run(API_KEYS, {}, editor), "FORBIDDEN");
        assert.deepEqual(await counts(), before);
      });
    });

    describe("API keys", () => {
      let key: { secret: string; apiKey: any };

      it("are created by an admin with a role; the secret is shown once, only its hash is stored", async () => {
        key = expectData(await run(CREATE_KEY, { name: "ci runner", role: "RUNNER" }, admin)).createApiKey;
        assert.match(key.secret, /^dspy_[A-Za-z0-9_-]{43}$/);
        assert.equal(key.apiKey.role, "RUNNER");
        assert.ok(key.secret.startsWith(key.apiKey.prefix) && key.apiKey.prefix.length < 16);
        assert.equal(key.apiKey.lastUsedAt, null);
        // Not retrievable later: the list (and the schema) has no secret.
        const listed = expectData(await run(API_KEYS, {}, admin)).apiKeys;
        assert.ok(listed.edges.some((e: any) => e.node.id === key.apiKey.id));
        assert.ok(!JSON.stringify(listed).includes(key.secret));
        const secretField = await run(`{ apiKeys { edges { node { secret } } } }`, {}, admin);
        expectError(secretField, "GRAPHQL_VALIDATION_FAILED");
        // Stored hashed: the row holds the SHA-256 and the prefix, never the key.
        const rows = (await server().database.dataSource.query(`SELECT * FROM api_key WHERE id = ?`, [key.apiKey.id])) as Record<string, unknown>[];
        assert.equal(rows.length, 1);
        assert.ok(!JSON.stringify(rows).includes(key.secret), "the key is not in the database row");
        assert.equal(rows[0].hash, createHash("sha256").update(key.secret).digest("hex"));
        assert.equal(rows[0].tenantId, TENANT_A);
      });

      it("work as X-API-Key, in their tenant, with their role; lastUsedAt is set, at most once a minute", async () => {
        const headers = { "x-api-key": key.secret };
        const data = expectData(await run(PROGRAMS, {}, headers));
        assert.ok(data.programs.edges.some((e: any) => e.node.id === programA.id));
        expectData(await run(EXECUTE, { id: programA.id }, headers));
        const before = await counts();
        expectError(await run(UPDATE_PROGRAM, { id: programA.id }, headers), "FORBIDDEN");
        assert.deepEqual(await counts(), before);
        const used = expectData(await run(API_KEYS, {}, admin)).apiKeys.edges.find((e: any) => e.node.id === key.apiKey.id).node;
        assert.ok(used.lastUsedAt && Math.abs(Date.parse(used.lastUsedAt) - Date.now()) < 60_000);
        // Used again within the minute: the row is not written again.
        expectData(await run(PROGRAMS, {}, headers));
        const again = expectData(await run(API_KEYS, {}, admin)).apiKeys.edges.find((e: any) => e.node.id === key.apiKey.id).node;
        assert.deepEqual([again.lastUsedAt, again.version], [used.lastUsedAt, used.version]);
      });

      it("are invisible to and cannot be revoked by another tenant's admin", async () => {
        const listed = expectData(await run(API_KEYS, { all: true }, adminB)).apiKeys;
        assert.equal(listed.totalCount, 0);
        expectError(await run(REVOKE_KEY, { id: key.apiKey.id }, adminB), "NOT_FOUND");
        expectData(await run(PROGRAMS, {}, { "x-api-key": key.secret }));
      });

      it("once revoked are UNAUTHENTICATED at once, and listed only with includeRevoked", async () => {
        const revoked = expectData(await run(REVOKE_KEY, { id: key.apiKey.id }, admin)).revokeApiKey;
        assert.ok(revoked.revokedAt);
        const response = await run(PROGRAMS, {}, { "x-api-key": key.secret });
        assert.match(expectError(response, "UNAUTHENTICATED").message, /revoked/);
        assert.equal(response.data, null);
        const active = expectData(await run(API_KEYS, {}, admin)).apiKeys.edges.map((e: any) => e.node.id);
        assert.ok(!active.includes(key.apiKey.id));
        const all = expectData(await run(API_KEYS, { all: true }, admin)).apiKeys.edges.map((e: any) => e.node.id);
        assert.ok(all.includes(key.apiKey.id));
        // Revoking again changes nothing.
        assert.equal(expectData(await run(REVOKE_KEY, { id: key.apiKey.id }, admin)).revokeApiKey.revokedAt, revoked.revokedAt);
      });

      it("authenticate a graphql-ws connection_init ({ \"x-api-key\" })", async () => {
        const viewerKey = expectData(await run(CREATE_KEY, { name: "ws viewer", role: "VIEWER" }, admin)).createApiKey;
        const sub = subscribeOnce(server().wsUrl, { "x-api-key": viewerKey.secret }, `subscription($id: ID!) { executionUpdated(id: $id) { id status } }`, { id: executionA.id }, 1_000);
        const result = await sub.ended;
        await sub.client.dispose();
        assert.equal(result.errors, undefined);
        assert.deepEqual(result.data, [{ executionUpdated: { id: executionA.id, status: "COMPLETED" } }]);
      });
    });

    describe("revocation", () => {
      it("stops an open subscription at its next event once its API key is revoked", async () => {
        const viewerKey = expectData(await run(CREATE_KEY, { name: "ws revoked", role: "VIEWER" }, admin)).createApiKey;
        const client = createClient({ url: server().wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, connectionParams: { "x-api-key": viewerKey.secret } });
        const received: any[] = [];
        let arrived = () => {};
        client.subscribe(
          { query: `subscription($id: ID!) { programChanged(id: $id) { kind version } }`, variables: { id: programA.id } },
          { next: (value) => (received.push(value), arrived()), error: (error) => (received.push({ error }), arrived()), complete: () => (received.push({ complete: true }), arrived()) },
        );
        const next = () => new Promise<void>((resolve) => (arrived = resolve));
        try {
          await new Promise((resolve) => setTimeout(resolve, 500)); // subscribed
          let waiting = next();
          expectData(await run(`mutation($id: ID!) { updateProgram(input: { id: $id, description: "seen" }) { id } }`, { id: programA.id }, admin));
          await waiting;
          assert.equal(received[0].data?.programChanged?.kind, "UPDATED", JSON.stringify(received));
          expectData(await run(REVOKE_KEY, { id: viewerKey.apiKey.id }, admin));
          waiting = next();
          expectData(await run(`mutation($id: ID!) { updateProgram(input: { id: $id, description: "not seen" }) { id } }`, { id: programA.id }, admin));
          await waiting;
          const refused = received[1];
          assert.equal(refused.data, null, JSON.stringify(refused));
          assert.equal(refused.errors?.[0]?.extensions?.code, "UNAUTHENTICATED", JSON.stringify(refused));
          assert.match(refused.errors[0].message, /revoked/);
          // Its last event: the subscription completes, and a later change reaches it no more.
          for (let i = 0; i < 100 && received.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
          assert.deepEqual(received.slice(2), [{ complete: true }]);
          expectData(await run(`mutation($id: ID!) { updateProgram(input: { id: $id, description: "after" }) { id } }`, { id: programA.id }, admin));
          await new Promise((resolve) => setTimeout(resolve, 200));
          assert.equal(received.length, 3, JSON.stringify(received));
        } finally {
          await client.dispose();
        }
      });

      it("over SSE too: the revoked key's subscription gets UNAUTHENTICATED as its last event, then completes", async () => {
        const viewerKey = expectData(await run(CREATE_KEY, { name: "sse revoked", role: "VIEWER" }, admin)).createApiKey;
        const response = await fetch(server().url, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "text/event-stream", "x-api-key": viewerKey.secret },
          body: JSON.stringify({ query: `subscription($id: ID!) { programChanged(id: $id) { kind } }`, variables: { id: programA.id } }),
        });
        assert.equal(response.status, 200);
        const events: [string, any][] = [];
        let arrived = () => {};
        const read = (async () => {
          const decoder = new TextDecoder();
          let buffered = "";
          for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
            buffered += decoder.decode(chunk, { stream: true });
            let end: number;
            while ((end = buffered.indexOf("\n\n")) >= 0) {
              const block = buffered.slice(0, end);
              buffered = buffered.slice(end + 2);
              const event = /event: (\w+)/.exec(block)?.[1];
              if (!event) continue;
              const data = /data: (.*)/.exec(block)?.[1] ?? "";
              events.push([event, data ? JSON.parse(data) : null]);
              arrived();
            }
          }
        })();
        const next = () => new Promise<void>((resolve) => (arrived = resolve));
        await new Promise((resolve) => setTimeout(resolve, 500)); // subscribed
        let waiting = next();
        expectData(await run(`mutation($id: ID!) { updateProgram(input: { id: $id, description: "sse seen" }) { id } }`, { id: programA.id }, admin));
        await waiting;
        expectData(await run(REVOKE_KEY, { id: viewerKey.apiKey.id }, admin));
        waiting = next();
        expectData(await run(`mutation($id: ID!) { updateProgram(input: { id: $id, description: "sse not seen" }) { id } }`, { id: programA.id }, admin));
        await waiting;
        await read; // the stream ends after its complete event
        assert.deepEqual(
          events.map(([event, data]) => [event, data?.data?.programChanged?.kind ?? data?.errors?.[0]?.extensions?.code ?? null]),
          [
            ["next", "UPDATED"],
            ["next", "UNAUTHENTICATED"],
            ["complete", null],
          ],
          JSON.stringify(events),
        );
        assert.match(events[1]![1].errors[0].message, /API key revoked/);
      });

      it("ends only the revoked key's subscription when keys of the same role share one (whichever key subscribed first)", async () => {
        // programChanged is a broadcast subscription: same operation, tenant and role share one group.
        const keys = [];
        for (const name of ["shared first", "shared second", "shared third"]) keys.push(expectData(await run(CREATE_KEY, { name, role: "VIEWER" }, admin)).createApiKey);
        const subscribers = keys.map((key) => {
          const client = createClient({ url: server().wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, connectionParams: { "x-api-key": key.secret } });
          const received: any[] = [];
          let arrived = () => {};
          client.subscribe(
            { query: `subscription($id: ID!) { programChanged(id: $id) { kind } }`, variables: { id: programA.id } },
            { next: (value) => (received.push(value), arrived()), error: (error) => (received.push({ error }), arrived()), complete: () => (received.push({ complete: true }), arrived()) },
          );
          return { client, received, next: () => new Promise<void>((resolve) => (arrived = resolve)) };
        });
        const ended = (s: (typeof subscribers)[number]) => s.received.some((entry) => entry.complete || entry.error);
        const change = async (description: string) => {
          const waiting = subscribers.map((s) => (ended(s) ? Promise.resolve() : s.next()));
          expectData(await run(`mutation($id: ID!, $d: String!) { updateProgram(input: { id: $id, description: $d }) { id } }`, { id: programA.id, d: description }, admin));
          await Promise.all(waiting);
        };
        const shape = (entry: any) => (entry.complete ? "complete" : entry.error ? `error ${entry.error[0]?.extensions?.code}` : (entry.errors?.[0]?.extensions?.code ?? entry.data?.programChanged?.kind));
        try {
          await new Promise((resolve) => setTimeout(resolve, 500)); // subscribed
          await change("all three");
          // The first subscriber's key (the one whose context the shared group was started with) is revoked first.
          expectData(await run(REVOKE_KEY, { id: keys[0].apiKey.id }, admin));
          await change("without the first");
          expectData(await run(REVOKE_KEY, { id: keys[2].apiKey.id }, admin));
          await change("second only");
          await new Promise((resolve) => setTimeout(resolve, 200)); // nothing more arrives for the ended ones
          assert.deepEqual(
            subscribers.map((s) => s.received.map(shape)),
            [
              ["UPDATED", "UNAUTHENTICATED", "complete"],
              ["UPDATED", "UPDATED", "UPDATED"],
              ["UPDATED", "UPDATED", "UNAUTHENTICATED", "complete"],
            ],
            JSON.stringify(subscribers.map((s) => s.received)),
          );
          assert.equal(subscribers[0].received[1].data, null);
          assert.match(subscribers[0].received[1].errors[0].message, /API key revoked/);
        } finally {
          await Promise.all(subscribers.map((s) => s.client.dispose()));
        }
      });
    });

    describe("tenancy", () => {
      it("another tenant's program, version, model and execution read as null; lists leave them out", async () => {
        const read = await run(
          `query($p: ID!, $v: ID!, $lm: ID!, $e: ID!) {
            program(id: $p) { id } programVersion(id: $v) { id } languageModel(id: $lm) { id } execution(id: $e) { id }
            programs { totalCount edges { node { id } } }
            executions { totalCount edges { node { id } } }
            byProgram: executions(programId: $p) { totalCount }
            languageModels { totalCount }
          }`,
          { p: programA.id, v: programA.currentVersion.id, lm: lmA, e: executionA.id },
          adminB,
        );
        const data = expectData(read);
        assert.deepEqual(
          [data.program, data.programVersion, data.languageModel, data.execution, data.programs.totalCount, data.executions.totalCount, data.byProgram.totalCount, data.languageModels.totalCount],
          [null, null, null, null, 0, 0, 0, 0],
        );
        assert.ok(!JSON.stringify(read).includes(programA.id));
      });

      it("_entities resolves another tenant's objects to null", async () => {
        const data = expectData(
          await run(
            `query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Program { id name } ... on Execution { id status } ... on LanguageModel { id } ... on ProgramVersion { id } } }`,
            { r: [{ __typename: "Program", id: programA.id }, { __typename: "Execution", id: executionA.id }, { __typename: "LanguageModel", id: lmA }, { __typename: "ProgramVersion", id: programA.currentVersion.id }] },
            adminB,
          ),
        );
        assert.deepEqual(data._entities, [null, null, null, null]);
        // The same representations resolve for tenant A.
        const own = expectData(await run(`query($r: [_Any!]!) { _entities(representations: $r) { ... on Program { id } } }`, { r: [{ __typename: "Program", id: programA.id }] }, admin));
        assert.deepEqual(own._entities, [{ id: programA.id }]);
      });

      it("another tenant's program cannot be updated, deleted or executed, nor its execution cancelled or retried: NOT_FOUND, nothing changed", async () => {
        const before = await counts();
        const programBefore = expectData(await run(PROGRAM, { id: programA.id }, admin)).program;
        for (const [query, variables] of [
          [UPDATE_PROGRAM, { id: programA.id }],
          [DELETE_PROGRAM, { id: programA.id }],
          [EXECUTE, { id: programA.id }],
          [`mutation($id: ID!) { cancelExecution(id: $id) { id } }`, { id: executionA.id }],
          [`mutation($id: ID!) { retryExecution(id: $id) { id } }`, { id: executionA.id }],
          [`mutation($id: ID!) { updateLanguageModel(input: { id: $id, name: "stolen" }) { id } }`, { id: lmA }],
          [CREATE_PROGRAM, { n: "uses-a-model", d: predictDefinition(), lm: lmA }],
        ] as const) {
          const response = await run(query, variables, adminB);
          expectError(response, "NOT_FOUND");
          assert.ok(!JSON.stringify(response).includes("program-a"), "nothing about the object leaks");
        }
        assert.deepEqual(await counts(), before);
        assert.deepEqual(expectData(await run(PROGRAM, { id: programA.id }, admin)).program, programBefore);
      });

      it("subscriptions to another tenant's program or execution fail with NOT_FOUND and deliver nothing", async () => {
        const paramsB = { authorization: adminB.authorization };
        for (const [query, variables] of [
          [`subscription($id: ID!) { programChanged(id: $id) { kind programId } }`, { id: programA.id }],
          [`subscription($id: ID!) { executionUpdated(id: $id) { id status outputs } }`, { id: executionA.id }],
          [`subscription($id: ID!) { executionEvents(programId: $id) { id status } }`, { id: programA.id }],
        ] as const) {
          const sub = subscribeOnce(server().wsUrl, paramsB, query, variables);
          // A change to the program while B is (trying to be) subscribed.
          await run(`mutation($id: ID!) { updateProgram(input: { id: $id, description: "touched" }) { id } }`, { id: programA.id }, admin);
          const result = await sub.ended;
          await sub.client.dispose();
          assert.equal(result.errors?.[0]?.extensions?.code, "NOT_FOUND", JSON.stringify(result));
          assert.deepEqual(result.data, []);
          assertNoInternals(JSON.stringify(result));
        }
      });

      it("a subscriber in its own tenant receives its events (connection_init { authorization })", async () => {
        const sub = subscribeOnce(server().wsUrl, { authorization: admin.authorization }, `subscription($id: ID!) { programChanged(id: $id) { kind programId } }`, { id: programA.id }, 1_500);
        await new Promise((resolve) => setTimeout(resolve, 300));
        await run(`mutation($id: ID!) { updateProgram(input: { id: $id, description: "seen" }) { id } }`, { id: programA.id }, admin);
        const result = await sub.ended;
        await sub.client.dispose();
        assert.deepEqual(result.data, [{ programChanged: { kind: "UPDATED", programId: programA.id } }]);
      });
    });

    describe("graphql-ws", () => {
      it("takes credentials from the upgrade request's headers when connection_init carries none (a gateway propagating authorization)", async () => {
        const authorization = `Bearer ${await token()}`;
        class WithHeaders extends WebSocket {
          constructor(url: string, protocols?: string | string[]) {
            super(url, protocols, { headers: { authorization } });
          }
        }
        const client = createClient({ url: server().wsUrl, webSocketImpl: WithHeaders, retryAttempts: 0, lazy: true });
        try {
          const result = await new Promise<any>((resolve, reject) => {
            client.subscribe({ query: `subscription($id: ID!) { executionUpdated(id: $id) { id status } }`, variables: { id: executionA.id } }, { next: resolve, error: reject, complete: () => undefined });
          });
          assert.equal(result.data.executionUpdated.id, executionA.id);
        } finally {
          await client.dispose();
        }
      });

      for (const [name, params, reason] of [
        ["without credentials", undefined, /no credentials/],
        ["with an expired token", async () => ({ authorization: `Bearer ${await token({ expIn: -60 })}` }), /token expired/],
        ["with an unknown API key", { "x-api-key": "dspy_nope" }, /unknown API key/],
      ] as const) {
        it(`refuses a connection ${name}: closed with 4401 and the reason, nothing delivered`, async () => {
          const connectionParams = typeof params === "function" ? await params() : params;
          const sub = subscribeOnce(server().wsUrl, connectionParams, `subscription($id: ID!) { executionUpdated(id: $id) { id status } }`, { id: executionA.id });
          const result = await sub.ended;
          await sub.client.dispose();
          assert.equal(result.close?.code, 4401, JSON.stringify(result));
          assert.match(result.close?.reason ?? "", /^UNAUTHENTICATED: /);
          assert.match(result.close?.reason ?? "", reason);
          assert.deepEqual(result.data, []);
          assert.equal(sub.isConnected(), false, "never acknowledged");
        });
      }
    });
  },
  AUTH_ENV,
);

describe("authentication configuration", () => {
  const base = { PORT: "0" };
  const refused = (env: Record<string, string>, message: RegExp) => {
    assert.throws(
      () => loadConfig({ ...base, ...env }),
      (error: unknown) => error instanceof AppError && error.code === "BAD_CONFIG" && message.test(error.message),
    );
  };

  it("needs issuer and audience with a JWT secret or JWKS", () => {
    refused({ AUTH_JWT_SECRET: SECRET }, /AUTH_ISSUER and AUTH_AUDIENCE are required/);
    refused({ AUTH_JWKS: "/tmp/jwks.json", AUTH_ISSUER: ISSUER }, /AUTH_ISSUER and AUTH_AUDIENCE are required/);
    refused({ AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE }, /neither AUTH_JWT_SECRET nor AUTH_JWKS/);
  });

  it("refuses a short secret, both a secret and a JWKS, dev mode with JWTs, and a plain-http JWKS elsewhere than localhost", () => {
    refused({ ...AUTH_ENV, AUTH_JWT_SECRET: "short" }, /at least 32 bytes/);
    refused({ ...AUTH_ENV, AUTH_JWKS: "/tmp/jwks.json" }, /not both/);
    refused({ ...AUTH_ENV, AUTH_DEV_MODE: "1" }, /cannot be combined/);
    refused({ AUTH_JWKS: "http://keys.example.test/jwks.json", AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE }, /https/);
    refused({ AUTH_DEV_MODE: "yes" }, /AUTH_DEV_MODE must be 0 or 1/);
  });

  it("is off (no dev mode, no JWTs: API keys only) unless configured", () => {
    assert.deepEqual(loadConfig(base).auth, { devMode: false });
    assert.equal(loadConfig({ ...base, AUTH_DEV_MODE: "1" }).auth.devMode, true);
  });
});

describe("authentication with a JWKS file (RS256) [sqlite]", function () {
  this.timeout(60_000);
  let server: TestServer;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  let dir: string;

  before(async () => {
    const pair = await generateKeyPair("RS256");
    privateKey = pair.privateKey;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "dspy-jwks-"));
    const file = path.join(dir, "jwks.json");
    fs.writeFileSync(file, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" }] }));
    server = await startTestServer({ name: "sqlite" }, { AUTH_JWKS: file, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE });
  });
  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("accepts an RS256 token signed by a key of the set", async () => {
    const jwt = await new SignJWT({ tenant_id: TENANT_A, role: "viewer" })
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setSubject("alice").setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime("5m")
      .sign(privateKey);
    expectData(await graphql(server.url, PROGRAMS, {}, bearer(jwt)));
  });

  it("refuses an HS256 token (a symmetric algorithm with a key set), a token from another key, and alg: none", async () => {
    expectError(await graphql(server.url, PROGRAMS, {}, bearer(await token())), "UNAUTHENTICATED");
    const other = await generateKeyPair("RS256");
    const foreign = await new SignJWT({ tenant_id: TENANT_A, role: "admin" })
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setSubject("mallory").setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime("5m")
      .sign(other.privateKey);
    assert.match(expectError(await graphql(server.url, PROGRAMS, {}, bearer(foreign)), "UNAUTHENTICATED").message, /bad signature/);
    expectError(await graphql(server.url, PROGRAMS, {}, bearer(unsignedToken())), "UNAUTHENTICATED");
  });
});

describe("no authentication configured (API keys only) [sqlite]", function () {
  this.timeout(60_000);
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ name: "sqlite" }, { AUTH_DEV_MODE: "0" });
  });
  after(async () => {
    await server?.stop();
  });

  it("answers requests without credentials with UNAUTHENTICATED, and refuses bearer tokens", async () => {
    expectError(await graphql(server.url, PROGRAMS), "UNAUTHENTICATED");
    assert.match(expectError(await graphql(server.url, PROGRAMS, {}, bearer(await token())), "UNAUTHENTICATED").message, /no AUTH_JWT_SECRET or AUTH_JWKS/);
  });

  it("accepts an API key minted outside GraphQL (the bootstrap path)", async () => {
    const { secret } = await server.services.apiKeys.create({ tenantId: "ops" }, { name: "bootstrap", role: Role.ADMIN }, "cli");
    const data = expectData(await graphql(server.url, `{ apiKeys { totalCount } }`, {}, { "x-api-key": secret }));
    assert.equal(data.apiKeys.totalCount, 1);
  });
});
