import assert from "node:assert/strict";
import { expectError, graphql, wsClient } from "./support/graphql.js";
import { type TestServer, databaseTargets, startTestServer } from "./support/harness.js";
import { createProgram, dummyLm } from "./support/stacks.js";

/** Fragments that each spread the next twice: 2^levels expansions for anything that walks them naively. */
function fragmentBomb(levels: number, leaf = "programs(first: 1) { totalCount }"): string {
  const fragments = [`fragment F0 on Query { ${leaf} }`];
  for (let i = 1; i <= levels; i++) fragments.push(`fragment F${i} on Query { ...F${i - 1} ...F${i - 1} }`);
  return `query Bomb { ...F${levels} } ${fragments.join(" ")}`;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; ms: number }> {
  const started = performance.now();
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json(), ms: performance.now() - started };
}

describe("hardening of the API surface [sqlite]", function () {
  this.timeout(60_000);
  let server: TestServer | undefined;
  const url = () => server!.url;
  before(async () => {
    server = await startTestServer(databaseTargets()[0], { MAX_SUBSCRIPTIONS_PER_CONNECTION: "3" });
  });
  after(async () => server?.stop());

  it("answers GraphQL and /healthz without an ETag: no hash of every response body for a conditional GET nobody makes", async () => {
    const answer = await fetch(url(), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ __typename }" }) });
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), { data: { __typename: "Query" } });
    assert.equal(answer.headers.get("etag"), null);
    const health = await fetch(new URL("/healthz", url()));
    assert.equal(health.status, 200);
    assert.equal(health.headers.get("etag"), null);
  });

  it("answers a fragment-spread bomb at once with QUERY_TOO_COMPLEX, on HTTP and graphql-ws (item 4)", async () => {
    for (const levels of [21, 30, 60]) {
      const { status, body, ms } = await post(url(), { query: fragmentBomb(levels) });
      assert.equal(status, 400, JSON.stringify(body));
      assert.equal(body.errors[0].extensions.code, "QUERY_TOO_COMPLEX");
      assert.match(body.errors[0].message, /expands to \d+(e\+\d+)? fields \(fragments expanded\); the limit is 10000/);
      assert.deepEqual([body.errors[0].extensions.layer, body.errors[0].extensions.retriable], ["validation", false]);
      assert.ok(ms < 500, `${levels} levels took ${ms.toFixed(0)} ms`);
    }
    const client = wsClient(url().replace("http", "ws"));
    try {
      const started = performance.now();
      const errors = await new Promise<any[]>((resolve, reject) => {
        client.subscribe({ query: fragmentBomb(40).replace("query Bomb", "subscription Bomb").replace(/on Query/g, "on Subscription").replace("programs(first: 1) { totalCount }", "executionUpdated(id: \"x\") { id }") }, {
          next: () => reject(new Error("the bomb ran")),
          error: (error) => resolve(Array.isArray(error) ? error : [error]),
          complete: () => reject(new Error("completed")),
        });
      });
      assert.equal(errors[0].extensions.code, "QUERY_TOO_COMPLEX");
      assert.ok(performance.now() - started < 500);
    } finally {
      await client.dispose();
    }
    // A bomb whose leaves are only __typename is not a cost problem: it still may not expand without bound.
    const cheap = await post(url(), { query: fragmentBomb(25, "__typename") });
    assert.equal(cheap.body.errors?.[0]?.extensions?.code, "QUERY_TOO_COMPLEX");
  });

  it("costs introspection and _service: 300 aliased __schema are refused, one introspection query passes (item 5)", async () => {
    const aliases = Array.from({ length: 300 }, (_, i) => `s${i}: __schema { types { name } }`).join(" ");
    const bulk = await post(url(), { query: `{ ${aliases} }` });
    assert.equal(bulk.status, 400);
    assert.equal(bulk.body.errors[0].extensions.code, "QUERY_TOO_COMPLEX");
    const services = await post(url(), { query: `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: _service { sdl }`).join(" ")} }` });
    assert.equal(services.body.errors[0].extensions.code, "QUERY_TOO_COMPLEX");
    const one = await post(url(), { query: `{ __schema { queryType { name } types { name fields { name type { name kind ofType { name } } } } } }` });
    assert.equal(one.status, 200, JSON.stringify(one.body.errors));
    assert.equal(one.body.data.__schema.queryType.name, "Query");
    assert.equal((await post(url(), { query: `{ _service { sdl } }` })).status, 200);
  });

  it("caps subscriptions per graphql-ws connection with TOO_MANY_SUBSCRIPTIONS; completing one frees its place (item 7)", async () => {
    const program = await createProgram(url(), "subs-cap", dummyLm({ q: { answer: "a" } }));
    const client = wsClient(url().replace("http", "ws"));
    const errors: any[] = [];
    const subscribe = () =>
      client.subscribe({ query: `subscription($p: ID!) { executionEvents(programId: $p) { id } }`, variables: { p: program.programId } }, {
        next: () => undefined,
        error: (error) => errors.push(...(Array.isArray(error) ? error : [error])),
        complete: () => undefined,
      });
    try {
      const open = [subscribe(), subscribe(), subscribe()];
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(errors, [], "three fit");
      subscribe();
      for (let i = 0; i < 250 && errors.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      const [refused] = errors as { message: string; extensions?: Record<string, unknown> }[];
      assert.equal(refused?.extensions?.code, "TOO_MANY_SUBSCRIPTIONS", JSON.stringify(errors));
      assert.match(refused.message, /at most 3 at once \(MAX_SUBSCRIPTIONS_PER_CONNECTION\)/);
      open[0]();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      subscribe();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(errors.length, 1, "a freed place is taken again; the connection stayed usable");
    } finally {
      await client.dispose();
    }
  });

  it("refuses _entities representations it cannot resolve with BAD_USER_INPUT at their path (item 8)", async () => {
    const query = `query($r: [_Any!]!) { _entities(representations: $r) { __typename } }`;
    const cases: [unknown[], string][] = [
      [[{ __typename: "Query", id: "x" }], "representations[0].__typename"],
      [[{ __typename: "ExecutionError", id: "x" }], "representations[0].__typename"],
      [[{ __typename: "NoSuchType", id: "x" }], "representations[0].__typename"],
      [[{ __typename: "Program", id: "x" }, { id: "y" }], "representations[1].__typename"],
      [[{ __typename: "Program" }], "representations[0].id"],
      [[{ __typename: "constructor", id: "x" }], "representations[0].__typename"],
    ];
    for (const [representations, path] of cases) {
      const error = expectError(await graphql(url(), query, { r: representations }), "BAD_USER_INPUT", path);
      assert.deepEqual([error.extensions?.layer, error.extensions?.retriable], ["validation", false]);
    }
  });

  it("gives every error layer and retriable: GraphQL parse, validation and coercion errors, 413, malformed JSON (item 13)", async () => {
    for (const body of [{ query: "{ nope" }, { query: "{ noSuchField }" }, { query: "query($n: Int!) { programs(first: $n) { totalCount } }", variables: { n: "many" } }]) {
      const { body: answer } = await post(url(), body);
      const extensions = answer.errors[0].extensions;
      assert.equal(typeof extensions.code, "string");
      assert.deepEqual([extensions.layer, extensions.retriable], ["validation", false], JSON.stringify(answer));
    }
    const malformed = await fetch(url(), { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    assert.deepEqual(((await malformed.json()) as any).errors[0].extensions, { code: "BAD_REQUEST", layer: "transport", retriable: false });
  });
});

describe("INTROSPECTION [sqlite]", function () {
  this.timeout(60_000);
  for (const mode of ["on", "authenticated", "off"] as const) {
    it(`INTROSPECTION=${mode}`, async () => {
      const server = await startTestServer(databaseTargets()[0], { INTROSPECTION: mode, AUTH_JWT_SECRET: "x".repeat(40), AUTH_ISSUER: "iss", AUTH_AUDIENCE: "aud" });
      try {
        const anonymous = await post(server.url, { query: "{ __schema { queryType { name } } }" });
        const sdl = await post(server.url, { query: "{ _service { sdl } }" });
        const typename = await post(server.url, { query: "{ __typename }" });
        assert.equal(typename.body.data?.__typename, "Query", "__typename is always allowed");
        if (mode === "on") {
          assert.equal(anonymous.body.data?.__schema.queryType.name, "Query");
          assert.ok(sdl.body.data?._service.sdl);
        } else {
          const code = mode === "off" ? "INTROSPECTION_DISABLED" : "UNAUTHENTICATED";
          for (const answer of [anonymous, sdl]) {
            assert.equal(answer.body.errors?.[0]?.extensions?.code, code, JSON.stringify(answer.body));
            assert.equal(answer.body.data ?? null, null);
          }
        }
      } finally {
        await server.stop();
      }
    });
  }
});

for (const target of databaseTargets()) {
  describe(`a database outage [${target.name}]`, function () {
    this.timeout(60_000);
    it("answers UNAVAILABLE (storage, retriable) without driver text, and /readyz turns 503 naming the database (item 13)", async () => {
      const server = await startTestServer(target);
      try {
        const healthy = await fetch(server.url.replace("/graphql", "/readyz"));
        const report = (await healthy.json()) as any;
        assert.equal(healthy.status, 200, JSON.stringify(report));
        assert.deepEqual([report.status, report.database.ok, report.jobStore.ok, report.workers.ok], ["ok", true, true, true]);
        await server.database.dataSource.destroy(); // the connection (pool) is gone, as when the server goes away
        const error = expectError(await graphql(server.url, `{ programs(first: 1) { totalCount } }`), "UNAVAILABLE");
        assert.deepEqual([error.extensions?.layer, error.extensions?.retriable], ["storage", true]);
        const down = await fetch(server.url.replace("/graphql", "/readyz"));
        const downReport = (await down.json()) as any;
        assert.equal(down.status, 503, JSON.stringify(downReport));
        assert.deepEqual([downReport.status, downReport.database.ok], ["unavailable", false]);
        assert.equal(typeof downReport.database.error, "string");
      } finally {
        await server.stop().catch(() => undefined);
      }
    });
  });
}

describe("bad inputs at the door [sqlite]", function () {
  this.timeout(60_000);
  let server: TestServer | undefined;
  let programId = "";
  let datasetId = "";
  const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { id status } }`;
  const ADD = `mutation($input: AddExamplesInput!) { addExamples(input: $input) { examples { id } } }`;
  before(async () => {
    server = await startTestServer(databaseTargets()[0]);
    programId = (await createProgram(server.url, "door", dummyLm({ q: { answer: "a" } }))).programId;
    datasetId = (await graphql(server.url, `mutation { createDataset(input: { name: "door" }) { id } }`)).data!.createDataset.id;
  });
  after(async () => server?.stop());

  const nested = (depth: number): unknown => {
    let value: unknown = "leaf";
    for (let i = 0; i < depth; i++) value = { a: value };
    return value;
  };

  it("refuses optimizer config keys that are Object.prototype members, with their path; nothing written (item 6)", async () => {
    const OPTIMIZE = `mutation($input: OptimizeProgramInput!) { optimizeProgram(input: $input) { id } }`;
    await graphql(server!.url, ADD, { input: { datasetId, examples: [{ inputs: { question: "q", n: 1 }, labels: { answer: "a" }, split: "TRAIN" }] } });
    for (const key of ["__proto__", "constructor", "hasOwnProperty", "isPrototypeOf", "toString", "valueOf", "__defineGetter__"]) {
      const config = JSON.parse(`{${JSON.stringify(key)}: 1}`);
      const before = await server!.countRows("optimization");
      const input = { programId, optimizer: "LABELED_FEW_SHOT", config, datasetId, trainSplit: "TRAIN", metric: { kind: "exact_match", output: "answer", label: "answer" } };
      const error = expectError(await graphql(server!.url, OPTIMIZE, { input }), "BAD_USER_INPUT", `input.config.${key}`);
      assert.match(error.message, new RegExp(`LABELED_FEW_SHOT takes no '${key.replace(/\$/g, "\\$")}' \\(it takes k, sample\\)`));
      assert.equal(await server!.countRows("optimization"), before, `nothing written for ${key}`);
    }
  });

  it("refuses inputs nested too deep, integers beyond 2^53, NUL and lone surrogates, with their path; nothing written (item 12)", async () => {
    const cases: [unknown, RegExp][] = [
      [{ question: "ok", n: 1, deep: nested(100) }, /deep(\.a)+: nests deeper than 64 levels/],
      [{ question: "ok", n: 2 ** 53 + 2 }, /n: is an integer beyond 2\^53/],
      [{ question: "ok", n: -(2 ** 60) }, /n: is an integer beyond 2\^53/],
      [{ question: "nul \u0000 here", n: 1 }, /question: contains a NUL character/],
      [{ question: "lone \ud800 surrogate", n: 1 }, /question: contains a lone surrogate/],
      [{ question: "ok", n: 1, ["k\u0000"]: 1 }, /\(a key\) contains a NUL character/],
    ];
    for (const [inputs, message] of cases) {
      const before = await server!.countRows("execution");
      const error = expectError(await graphql(server!.url, EXECUTE, { input: { programId, inputs } }), "BAD_USER_INPUT");
      assert.match(error.message, message);
      assert.deepEqual([error.extensions?.layer, error.extensions?.retriable], ["validation", false]);
      assert.equal(await server!.countRows("execution"), before, "nothing written");
    }
    // Thousands deep (the JSON text is written by hand: JSON.stringify itself cannot go that deep).
    const deep = `{"query": ${JSON.stringify(EXECUTE)}, "variables": {"input": {"programId": "${programId}", "inputs": {"question": "q", "n": 1, "deep": ${'{"a":'.repeat(20_000)}1${"}".repeat(20_000)}}}}}`;
    const response = await fetch(server!.url, { method: "POST", headers: { "content-type": "application/json" }, body: deep });
    const answer = (await response.json()) as any;
    assert.equal(answer.errors?.[0]?.extensions?.code, "BAD_USER_INPUT", JSON.stringify(answer).slice(0, 300));
    assert.match(answer.errors[0].message, /nests deeper than 64 levels/);
    const examples = await server!.countRows("example");
    const error = expectError(await graphql(server!.url, ADD, { input: { datasetId, examples: [{ inputs: { question: "x\u0000", n: 1 }, labels: { answer: "a" } }] } }), "BAD_USER_INPUT");
    assert.match(error.message, /question: contains a NUL character/);
    assert.equal(await server!.countRows("example"), examples);
    // In the query text too (a literal), and a surrogate pair is fine.
    const literal = expectError(await graphql(server!.url, `mutation { executeProgram(input: { programId: "${programId}", inputs: { question: "x", n: 9007199254740993 } }) { id } }`), "BAD_USER_INPUT");
    assert.match(literal.message, /n: is an integer beyond 2\^53/);
    const fine = await graphql(server!.url, EXECUTE, { input: { programId, inputs: { question: "emoji 😀 ok", n: 2 ** 53 - 1 } } });
    assert.equal(fine.errors, undefined, JSON.stringify(fine.errors));
  });
});

describe("malformed ids are NOT_FOUND, like unknown ones, in every mutation (item 14) [sqlite]", function () {
  this.timeout(60_000);
  let server: TestServer | undefined;
  let good: { programId: string; versionId: string; languageModelId: string };
  let datasetId = "";
  before(async () => {
    server = await startTestServer(databaseTargets()[0]);
    good = await createProgram(server.url, "ids", dummyLm({ q: { answer: "a" } }));
    datasetId = (await graphql(server.url, `mutation { createDataset(input: { name: "ids", examples: [{ inputs: { question: "q", n: 1 }, labels: { answer: "a" }, split: TRAIN }] }) { id } }`)).data!.createDataset.id;
  });
  after(async () => server?.stop());

  const metric = { kind: "exact_match", output: "answer", label: "answer" };
  const cases = (bad: string): [string, string, Record<string, unknown>, string][] => [
    ["updateLanguageModel", `mutation($i: UpdateLanguageModelInput!) { updateLanguageModel(input: $i) { id } }`, { i: { id: bad, temperature: 0 } }, "input.id"],
    ["updateProgram", `mutation($i: UpdateProgramInput!) { updateProgram(input: $i) { id } }`, { i: { id: bad, description: "x" } }, "input.id"],
    ["deleteProgram", `mutation($id: ID!) { deleteProgram(id: $id) }`, { id: bad }, "id"],
    ["createProgram", `mutation($i: CreateProgramInput!) { createProgram(input: $i) { id } }`, { i: { name: `p-${bad.length}`, definition: { inputs: { q: { type: "str" } }, modules: { m: { type: "Predict", signature: "q -> a" } }, forward: [{ call: "m", with: { q: "$input.q" }, as: "s" }, { return: { a: "$s.a" } }] }, languageModelId: bad } }, "input.languageModelId"],
    ["addExamples", `mutation($i: AddExamplesInput!) { addExamples(input: $i) { examples { id } } }`, { i: { datasetId: bad, examples: [{ inputs: { question: "q", n: 1 } }] } }, "input.datasetId"],
    ["executeProgram programId", `mutation($i: ExecuteProgramInput!) { executeProgram(input: $i) { id } }`, { i: { programId: bad, inputs: { question: "q", n: 1 } } }, "input.programId"],
    ["executeProgram versionId", `mutation($i: ExecuteProgramInput!) { executeProgram(input: $i) { id } }`, { i: { programId: good.programId, versionId: bad, inputs: { question: "q", n: 1 } } }, "input.versionId"],
    ["cancelExecution", `mutation($id: ID!) { cancelExecution(id: $id) { id } }`, { id: bad }, "id"],
    ["retryExecution", `mutation($id: ID!) { retryExecution(id: $id) { id } }`, { id: bad }, "id"],
    ["evaluateProgram versionId", `mutation($i: EvaluateProgramInput!) { evaluateProgram(input: $i) { id } }`, { i: { versionId: bad, datasetId, split: "TRAIN", metric } }, "input.versionId"],
    ["evaluateProgram datasetId", `mutation($i: EvaluateProgramInput!) { evaluateProgram(input: $i) { id } }`, { i: { versionId: good.versionId, datasetId: bad, split: "TRAIN", metric } }, "input.datasetId"],
    ["cancelEvaluation", `mutation($id: ID!) { cancelEvaluation(id: $id) { id } }`, { id: bad }, "id"],
    ["optimizeProgram programId", `mutation($i: OptimizeProgramInput!) { optimizeProgram(input: $i) { id } }`, { i: { programId: bad, optimizer: "LABELED_FEW_SHOT", datasetId, trainSplit: "TRAIN", metric } }, "input.programId"],
    ["optimizeProgram datasetId", `mutation($i: OptimizeProgramInput!) { optimizeProgram(input: $i) { id } }`, { i: { programId: good.programId, optimizer: "LABELED_FEW_SHOT", datasetId: bad, trainSplit: "TRAIN", metric } }, "input.datasetId"],
    ["cancelOptimization", `mutation($id: ID!) { cancelOptimization(id: $id) { id } }`, { id: bad }, "id"],
    ["promoteProgramVersion", `mutation($id: ID!) { promoteProgramVersion(versionId: $id) { id } }`, { id: bad }, "versionId"],
    ["importProgramVersion", `mutation($i: ImportProgramVersionInput!) { importProgramVersion(input: $i) { id } }`, { i: { programId: bad, dspyState: {} } }, "input.programId"],
    ["revokeApiKey", `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: bad }, "id"],
  ];

  it("treats an empty languageModelId as one that names nothing, in createProgram and in the programs filter", async () => {
    const definition = { inputs: { q: { type: "str" } }, modules: { m: { type: "Predict", signature: "q -> a" } }, forward: [{ call: "m", with: { q: "$input.q" }, as: "s" }, { return: { a: "$s.a" } }] };
    const before = await server!.countRows("program");
    expectError(await graphql(server!.url, `mutation($i: CreateProgramInput!) { createProgram(input: $i) { id } }`, { i: { name: "empty-lm", definition, languageModelId: "" } }), "NOT_FOUND", "input.languageModelId");
    assert.equal(await server!.countRows("program"), before, "nothing written");
    const listed = (await graphql(server!.url, `{ programs(filter: { languageModelId: "" }) { totalCount } }`)).data as any;
    assert.equal(listed.programs.totalCount, 0, "an empty id matches no program");
  });

  for (const bad of ["not-a-uuid", "1; DROP TABLE program", "00000000-0000-7000-8000-000000000000"]) {
    it(`answers NOT_FOUND at the id's path for '${bad}'`, async () => {
      for (const [name, mutation, variables, path] of cases(bad)) {
        const error = expectError(await graphql(server!.url, mutation, variables), "NOT_FOUND", path);
        assert.ok(error.message.length > 0, name);
      }
    });
  }
});
