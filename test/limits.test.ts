import assert from "node:assert/strict";
import WebSocket from "ws";
import { parseRateLimit } from "../src/config.js";
import { rateLimitKey } from "../src/limits/RateLimiter.js";
import { MemoryTokenBuckets } from "../src/limits/TokenBuckets.js";
import { Role } from "../src/auth/roles.js";
import { assertNoInternals, expectData, expectError, graphql, wsClient } from "./support/graphql.js";
import { type TestServer, databaseTargets, startTestServer } from "./support/harness.js";
import { createProgram, dummyLm } from "./support/stacks.js";

const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { id status } }`;
/** 14 levels of fields (the default limit is 12). */
const DEEP = `query($id: ID!) { execution(id: $id) { program { executions { edges { node { program { executions { edges { node { program { executions { edges { node { id } } } } } } } } } } } } } }`;
/** Within the depth limit, but two nested connections of 100: about 100 × 100 × 3. */
const COMPLEX = `{ programs(first: 100) { edges { node { executions(first: 100) { edges { node { id status attempt } } } } } } }`;
const SUB_DEEP = `subscription($id: ID!) { executionUpdated(id: $id) { program { executions { edges { node { program { executions { edges { node { program { executions { edges { node { id } } } } } } } } } } } } } }`;
const SUB_COMPLEX = `subscription($id: ID!) { executionUpdated(id: $id) { program { executions(first: 100) { edges { node { program { executions(first: 100) { edges { node { id } } } } } } } } } }`;

/** Subscribes and resolves with the first result or error. */
function firstOf(url: string, query: string, variables: Record<string, unknown>): Promise<{ data?: unknown; errors?: any[] }> {
  const client = wsClient(url);
  return new Promise<{ data?: unknown; errors?: any[] }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no result")), 10_000);
    client.subscribe(
      { query, variables },
      {
        next: (value) => {
          clearTimeout(timer);
          resolve(value as { data?: unknown; errors?: any[] });
        },
        error: (error) => {
          clearTimeout(timer);
          resolve({ errors: Array.isArray(error) ? error : [error] });
        },
        complete: () => undefined,
      },
    );
  }).finally(() => client.dispose());
}

describe("limits [sqlite]", function () {
  this.timeout(60_000);
  let server: TestServer | undefined;
  let program: { programId: string };
  let executionId: string;
  const url = () => server!.url;

  before(async () => {
    server = await startTestServer(databaseTargets()[0], { MAX_REQUEST_BYTES: "65536", EXECUTE_RATE_LIMIT: "3/second" });
    program = await createProgram(url(), "limited", dummyLm({ q: { answer: "a" } }));
    executionId = expectData(await graphql(url(), EXECUTE, { input: { programId: program.programId, inputs: { question: "q", n: 0 } } })).executeProgram.id;
    // Let the bucket fill up again before the rate-limit case.
    await new Promise((resolve) => setTimeout(resolve, 400));
  });
  after(async () => server?.stop());

  describe("query depth and complexity (HTTP)", () => {
    it("refuses a query deeper than MAX_QUERY_DEPTH with QUERY_TOO_DEEP and HTTP 400", async () => {
      const response = await fetch(url(), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: DEEP, variables: { id: executionId } }) });
      assert.equal(response.status, 400);
      const body = (await response.json()) as any;
      const error = expectError(body, "QUERY_TOO_DEEP");
      assert.match(error.message, /depth 14 exceeds the limit of 12/);
      assert.equal(body.data, undefined);
    });

    it("refuses a document nested too deeply to parse with GRAPHQL_PARSE_FAILED, over HTTP and graphql-ws, never an internal error", async () => {
      // 4,900 levels of fields: more than graphql-js's recursive parser has stack for.
      const nested = `{${" a {".repeat(4_900)} b${" }".repeat(4_900)} }`;
      const response = await fetch(server!.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: nested }) });
      const body = (await response.json()) as { errors: { message: string; extensions: Record<string, unknown> }[] };
      assert.equal(response.status, 400);
      assert.deepEqual([body.errors[0]!.extensions.code, body.errors[0]!.extensions.layer], ["GRAPHQL_PARSE_FAILED", "validation"]);
      assert.match(body.errors[0]!.message, /nested too deeply/);
      const overWs = await firstOf(server!.wsUrl, nested, {});
      assert.equal(overWs.errors?.[0]?.extensions?.code, "GRAPHQL_PARSE_FAILED");
      assert.match(overWs.errors![0].message, /nested too deeply/);
    });

    it("refuses a query costlier than MAX_QUERY_COMPLEXITY with QUERY_TOO_COMPLEX and HTTP 400", async () => {
      const response = await fetch(url(), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: COMPLEX }) });
      assert.equal(response.status, 400);
      const error = expectError((await response.json()) as any, "QUERY_TOO_COMPLEX");
      assert.match(error.message, /estimated cost \d+ exceeds the limit of 1000/);
      // `first` from a variable counts too.
      const viaVariable = await graphql(url(), `query($n: Int) { programs(first: $n) { edges { node { executions(first: $n) { edges { node { id } } } } } } }`, { n: 100 });
      expectError(viaVariable, "QUERY_TOO_COMPLEX");
    });

    it("lets ordinary queries, federation and introspection through", async () => {
      expectData(await graphql(url(), `{ programs(first: 20) { totalCount edges { cursor node { id name currentVersion { id number } executions(first: 5) { edges { node { id status } } } } } pageInfo { hasNextPage endCursor } } }`));
      expectData(await graphql(url(), `query($id: ID!) { execution(id: $id) { id status program { id name } events { seq from to } } }`, { id: executionId }));
      expectData(await graphql(url(), `{ _service { sdl } }`));
      const reps = Array.from({ length: 50 }, () => ({ __typename: "Program", id: program.programId }));
      expectData(await graphql(url(), `query($r: [_Any!]!) { _entities(representations: $r) { ... on Program { id name description } } }`, { r: reps }));
      const introspection = `{ __schema { types { name fields { name type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } }`;
      expectData(await graphql(url(), introspection));
    });
  });

  describe("query depth and complexity (graphql-ws)", () => {
    it("refuses deep and complex subscriptions with the same codes; ordinary ones run", async () => {
      const deep = await firstOf(server!.wsUrl, SUB_DEEP, { id: executionId });
      assert.equal(deep.errors?.[0]?.extensions?.code, "QUERY_TOO_DEEP", JSON.stringify(deep));
      const complex = await firstOf(server!.wsUrl, SUB_COMPLEX, { id: executionId });
      assert.equal(complex.errors?.[0]?.extensions?.code, "QUERY_TOO_COMPLEX", JSON.stringify(complex));
      assert.match(complex.errors![0].message, /exceeds the limit of 1000/);
      const ok = await firstOf(server!.wsUrl, `subscription($id: ID!) { executionUpdated(id: $id) { id status program { id } } }`, { id: executionId });
      assert.equal(ok.errors, undefined, JSON.stringify(ok));
      assert.equal((ok.data as any).executionUpdated.id, executionId);
    });

    it("closes a connection whose message exceeds MAX_REQUEST_BYTES (1009)", async () => {
      const socket = new WebSocket(server!.wsUrl, "graphql-transport-ws");
      await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
      const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
      socket.send(JSON.stringify({ type: "connection_init", payload: { padding: "x".repeat(70_000) } }));
      assert.equal(await closed, 1009);
    });
  });

  describe("request size and malformed bodies", () => {
    it("answers an oversized body with 413 and a GraphQL-shaped REQUEST_TOO_LARGE", async () => {
      const response = await fetch(url(), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ __typename }", variables: { padding: "x".repeat(70_000) } }),
      });
      assert.equal(response.status, 413);
      assert.match(response.headers.get("content-type") ?? "", /application\/json/);
      const body = (await response.json()) as any;
      assert.equal(body.errors[0].extensions.code, "REQUEST_TOO_LARGE");
      assert.match(body.errors[0].message, /65536 bytes/);
    });

    it("answers malformed JSON with 400 and BAD_REQUEST, without a stack trace", async () => {
      const response = await fetch(url(), { method: "POST", headers: { "content-type": "application/json" }, body: '{"query": "{ __typename }",' });
      assert.equal(response.status, 400);
      assert.match(response.headers.get("content-type") ?? "", /application\/json/);
      const text = await response.text();
      assertNoInternals(text);
      assert.ok(!/node_modules|<html|SyntaxError/i.test(text), text);
      assert.equal(JSON.parse(text).errors[0].extensions.code, "BAD_REQUEST");
    });
  });

  describe("executeProgram rate limit", () => {
    it("refuses with RATE_LIMITED and retryAfterMs, writes nothing, and recovers", async () => {
      const execute = () => graphql(url(), EXECUTE, { input: { programId: program.programId, inputs: { question: "q", n: 0 } } });
      for (let i = 0; i < 3; i += 1) expectData(await execute());
      const rows = await server!.countRows("execution");
      const refused = expectError(await execute(), "RATE_LIMITED");
      assert.ok(refused.extensions?.retryAfterMs > 0 && refused.extensions?.retryAfterMs <= 334, JSON.stringify(refused));
      assert.equal(refused.extensions?.retriable, true);
      assert.match(refused.message, /3\/second/);
      assert.equal(await server!.countRows("execution"), rows, "nothing written");
      await new Promise((resolve) => setTimeout(resolve, (refused.extensions?.retryAfterMs ?? 0) + 20));
      expectData(await execute());
    });

    it("counts a batch as the executions it queues (at most the whole burst): a 2-input batch then a 3-input one is refused", async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_100)); // a full bucket: 3 tokens
      const batch = (n: number) => graphql(url(), `mutation($input: ExecuteProgramBatchInput!) { executeProgramBatch(input: $input) { id total } }`, { input: { programId: program.programId, inputs: Array.from({ length: n }, (_, i) => ({ question: "q", n: i })) } });
      assert.equal(expectData(await batch(2)).executeProgramBatch.total, 2);
      const rows = await server!.countRows("execution");
      const refused = expectError(await batch(3), "RATE_LIMITED");
      assert.ok(refused.extensions?.retryAfterMs > 334, "waits for more than one token");
      assert.equal(await server!.countRows("execution"), rows, "nothing written");
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      // More inputs than the burst: it takes the whole bucket, no more.
      assert.equal(expectData(await batch(10)).executeProgramBatch.total, 10);
    });
  });
});

describe("token bucket", () => {
  it("allows a burst, then one call per refill interval, per key", () => {
    let now = 0;
    const buckets = new MemoryTokenBuckets(() => now);
    const rate = parseRateLimit("60/minute", "2")!;
    assert.equal(buckets.take("a", rate, 1), 0);
    assert.equal(buckets.take("a", rate, 1), 0);
    assert.equal(buckets.take("a", rate, 1), 1000);
    assert.equal(buckets.take("b", rate, 1), 0, "another key has its own bucket");
    now = 999;
    assert.equal(buckets.take("a", rate, 1), 1);
    now = 1000;
    assert.equal(buckets.take("a", rate, 1), 0);
  });

  it("takes several tokens at once, or none", () => {
    let now = 0;
    const buckets = new MemoryTokenBuckets(() => now);
    const rate = parseRateLimit("60/minute", "5")!;
    assert.equal(buckets.take("a", rate, 3), 0);
    assert.equal(buckets.take("a", rate, 3), 1000, "one token short: a second");
    assert.equal(buckets.take("a", rate, 2), 0, "the refused take took nothing");
    now = 5000;
    assert.equal(buckets.take("a", rate, 6), 1000, "more than the burst waits for what a full bucket lacks");
    assert.equal(buckets.take("a", rate, 5), 0);
    assert.equal(buckets.take("a", rate, 1), 1000);
  });

  it("debits below zero, and takes wait until the debt is paid back", () => {
    let now = 0;
    const buckets = new MemoryTokenBuckets(() => now);
    const rate = { burst: 10, perMs: 0.01 }; // 10 tokens a second
    buckets.debit("lm", rate, 15); // 5 in debt
    assert.equal(buckets.take("lm", rate, 0), 500, "half a second to be back at zero");
    now = 500;
    assert.equal(buckets.take("lm", rate, 0), 0);
    assert.equal(buckets.take("lm", rate, 1), 100);
  });

  it("forgets full buckets once it holds 10,000, and keeps those still filling", () => {
    let now = 0;
    const buckets = new MemoryTokenBuckets(() => now);
    const rate = { burst: 1, perMs: 0.001 }; // one token a second
    assert.equal(buckets.take("slow", { burst: 1, perMs: 0.00001 }, 1), 0); // full again in 100 s
    for (let i = 0; i < 9_999; i++) assert.equal(buckets.take(`k${i}`, rate, 1), 0);
    now = 2_000; // every k bucket is full again, "slow" is not
    assert.equal(buckets.take("newcomer", rate, 1), 0);
    assert.equal(buckets.take("slow", { burst: 1, perMs: 0.00001 }, 1), 98_000, "kept: still empty");
    assert.equal(buckets.take("k0", rate, 1), 0, "dropped when full: the same as a full bucket");
    assert.equal((buckets as unknown as { buckets: Map<string, unknown> }).buckets.size, 3);
  });

  it("keys API keys by id, tokens by subject and tenant, development mode by tenant", () => {
    assert.equal(rateLimitKey({ subject: "api_key:k1", tenantId: "t", role: Role.RUNNER, via: "api_key", apiKeyId: "k1" }), "api_key:k1");
    assert.equal(rateLimitKey({ subject: "alice", tenantId: "t", role: Role.RUNNER, via: "jwt" }), 'jwt:["t","alice"]');
    assert.equal(rateLimitKey({ subject: "dev", tenantId: "t", role: Role.ADMIN, via: "dev" }), 'tenant:"t"');
    // A ':' in a tenant or subject cannot make another caller's key.
    assert.notEqual(rateLimitKey({ subject: "c", tenantId: "a:b", role: Role.RUNNER, via: "jwt" }), rateLimitKey({ subject: "b:c", tenantId: "a", role: Role.RUNNER, via: "jwt" }));
  });

  it("reads EXECUTE_RATE_LIMIT", () => {
    assert.equal(parseRateLimit("off", undefined), undefined);
    assert.deepEqual(parseRateLimit("10/second", undefined), { perMs: 0.01, burst: 10, text: "10/second" });
    assert.throws(() => parseRateLimit("ten a minute", undefined), /EXECUTE_RATE_LIMIT/);
  });
});


