import assert from "node:assert/strict";
import type { CorpusDocumentVector, CorpusSpec } from "../src/adapters/DspyAdapter.js";
import { expectData, expectError, graphql } from "./support/graphql.js";
import { databaseTargets, describeEachDatabase, startTestServer, type TestServer } from "./support/harness.js";
import { jwtAuth } from "./support/jwt.js";

const CREATE = `mutation($input: CreateCorpusInput!) { createCorpus(input: $input) { id name description embeddingModel status dims documentCount embeddedCount version } }`;
const ADD = `mutation($input: AddDocumentsInput!) { addDocuments(input: $input) { corpus { id status documentCount } documents { id text title metadata embeddedAt } } }`;
const CORPUS = `query($id: ID!) { corpus(id: $id) { id name status dims documentCount embeddedCount error { code message } } }`;
const SEARCH = `query($input: SearchCorpusInput!) { searchCorpus(input: $input) { documentId text score } }`;

const PASSAGES = [
  "Paris is the capital and largest city of France, on the river Seine.",
  "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar and oxygen.",
  "Python is a programming language known for its readable syntax and large standard library.",
  "Mount Everest, on the border of Nepal and China, is the highest mountain above sea level.",
  "To bake bread, knead flour, water, yeast and salt, let the dough rise, then bake it in a hot oven.",
  "Jupiter is the largest planet of the solar system, a gas giant with a great red storm.",
];

/** 1,000 distinct short documents (about 20 words each) with one needle among them. */
function thousandDocuments(): { text: string; title: string; metadata: Record<string, unknown> }[] {
  const subjects = ["The river", "A small village", "The old library", "Our factory", "The mountain trail", "A coastal town", "The museum", "The night market", "A research lab", "The railway station"];
  const facts = [
    "opens every morning at seven and closes late in the evening",
    "was rebuilt after a storm damaged most of its roof",
    "hosts a festival of music and food each summer",
    "is known for its quiet gardens and stone bridges",
    "employs several hundred people from the region",
    "attracts cyclists and hikers during the spring",
    "keeps records that go back more than two centuries",
    "serves fresh fish caught by local boats",
    "has a tower with a clock that chimes every hour",
    "was the first in the country to use solar panels",
  ];
  return Array.from({ length: 1000 }, (_, i) => {
    const text = i === 737
      ? "The launch code of project Nightingale is the word tangerine, known only to the flight director."
      : `Record ${i}: ${subjects[i % 10]} in district ${Math.floor(i / 100)} ${facts[Math.floor(i / 10) % 10]}, according to note ${i * 7919 % 1000}.`;
    return { text, title: `doc ${i}`, metadata: { n: i } };
  });
}

async function waitForStatus(run: (q: string, v?: Record<string, unknown>) => Promise<any>, id: string, status: string, timeoutMs = 120_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const corpus = expectData<any>(await run(CORPUS, { id })).corpus;
    if (corpus.status === status) return corpus;
    if (corpus.status === "FAILED" || Date.now() > deadline) assert.fail(`corpus ${id} is ${corpus.status} (waited for ${status}): ${JSON.stringify(corpus.error)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describeEachDatabase(
  "corpora through real DSPy workers (local all-MiniLM-L6-v2)",
  (server) => {
    const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
    let corpusId: string;

    it("creates a corpus, embeds its documents in the background and finds the right passage first", async () => {
      const created = expectData<any>(await run(CREATE, { input: { name: "facts", description: "general knowledge" } })).createCorpus;
      assert.deepEqual({ ...created, id: undefined, version: undefined }, {
        id: undefined, version: undefined, name: "facts", description: "general knowledge", embeddingModel: "local/all-MiniLM-L6-v2", status: "EMPTY", dims: null, documentCount: 0, embeddedCount: 0,
      });
      corpusId = created.id;
      const added = expectData<any>(await run(ADD, { input: { corpusId, documents: PASSAGES.map((text, i) => ({ text, title: `p${i}`, ...(i === 0 ? { metadata: { source: "atlas" } } : {}) })) } })).addDocuments;
      assert.equal(added.documents.length, PASSAGES.length);
      assert.deepEqual(added.documents[0], { id: added.documents[0].id, text: PASSAGES[0], title: "p0", metadata: { source: "atlas" }, embeddedAt: null });
      assert.equal(added.corpus.documentCount, PASSAGES.length);
      const ready = await waitForStatus(run, corpusId, "READY");
      assert.equal(ready.dims, 384);
      assert.equal(ready.embeddedCount, PASSAGES.length);
      const docs = expectData<any>(await run(`query($id: ID!) { corpus(id: $id) { documents(first: 2) { totalCount edges { node { text embeddedAt embedding } } pageInfo { hasNextPage } } } }`, { id: corpusId })).corpus.documents;
      assert.equal(docs.totalCount, PASSAGES.length);
      assert.equal(docs.pageInfo.hasNextPage, true);
      const vector: number[] = docs.edges[0].node.embedding;
      assert.equal(vector.length, 384);
      assert.ok(Math.abs(Math.hypot(...vector) - 1) < 1e-4, "vectors are normalized");
      assert.ok(docs.edges[0].node.embeddedAt);

      const queries: [string, number][] = [
        ["What is the capital of France?", 0],
        ["How do plants make their food from light?", 1],
        ["Which coding language is easy to read?", 2],
        ["What is the tallest peak on Earth?", 3],
        ["How do I make a loaf at home?", 4],
        ["Biggest planet orbiting the sun", 5],
      ];
      for (const [query, expected] of queries) {
        const hits = expectData<any>(await run(SEARCH, { input: { corpusId, query, k: 3 } })).searchCorpus;
        assert.equal(hits.length, 3);
        assert.equal(hits[0].text, PASSAGES[expected], `${query} → ${JSON.stringify(hits)}`);
        assert.ok(hits[0].score >= hits[1].score && hits[1].score >= hits[2].score);
      }
    });

    it("rehydrates a worker that forgot the corpus (UNKNOWN_CORPUS) and sends a changed corpus again", async () => {
      const spec = await server().services.corpora.searchSpec({ tenantId: "default" }, corpusId);
      let loads = 0;
      // A hash no worker has seen (the searches above sent the corpus under its own).
      const counted: CorpusSpec = { ...spec, hash: `${spec.hash}-counted`, documents: async () => (loads++, spec.documents()) };
      const adapter = server().adapter;
      assert.equal((await adapter.searchCorpus({ corpus: counted, query: "capital of France", k: 1 }))[0].text, PASSAGES[0]);
      assert.equal((await adapter.searchCorpus({ corpus: counted, query: "highest mountain", k: 1 }))[0].text, PASSAGES[3]);
      assert.equal(loads, 1, "the worker keeps the corpus between searches");
      // The worker holds 16 corpora (--max-corpora): 16 others evict this one, while the pool still thinks the worker has it.
      const tiny: CorpusDocumentVector[] = [{ id: "x", text: "x", embedding: Buffer.alloc(384 * 4).toString("base64") }];
      for (let i = 0; i < 16; i++) await adapter.defineCorpus({ corpusId: `filler-${i}`, hash: "h", model: "local/all-MiniLM-L6-v2", documents: async () => tiny });
      assert.equal((await adapter.searchCorpus({ corpus: counted, query: "capital of France", k: 1 }))[0].text, PASSAGES[0]);
      assert.equal(loads, 2, "UNKNOWN_CORPUS made the adapter send the corpus again");
      // A changed corpus has a new hash: sent again.
      expectData(await run(ADD, { input: { corpusId, documents: [{ text: "Canberra is the capital city of Australia." }] } }));
      await waitForStatus(run, corpusId, "READY");
      const changed = await server().services.corpora.searchSpec({ tenantId: "default" }, corpusId);
      assert.notEqual(changed.hash, spec.hash);
      const hits = expectData<any>(await run(SEARCH, { input: { corpusId, query: "Australia's capital", k: 1 } })).searchCorpus;
      assert.equal(hits[0].text, "Canberra is the capital city of Australia.");
    });

    it("refuses bad inputs with a path and a reason, and writes nothing", async () => {
      const rows = async () => [await server().countRows("corpus"), await server().countRows("corpus_document"), await server().countRows("audit_event")];
      const before = await rows();
      const bad = (response: any, path: string, reason: RegExp) => assert.match(expectError(response, "BAD_USER_INPUT", path).message, reason);
      bad(await run(CREATE, { input: { name: "" } }), "input.name", /must not be empty/);
      bad(await run(CREATE, { input: { name: "x", embeddingModel: "local/nope" } }), "input.embeddingModel", /not a local model/);
      bad(await run(CREATE, { input: { name: "x", embeddingModel: "no model here" } }), "input.embeddingModel", /litellm embedding model string/);
      expectError(await run(CREATE, { input: { name: "facts" } }), "CONFLICT", "input.name");
      const add = (documents: unknown[]) => run(ADD, { input: { corpusId, documents } });
      bad(await add([]), "input.documents", /at least one document/);
      bad(await add(Array.from({ length: 1001 }, () => ({ text: "t" }))), "input.documents", /at most 1000/);
      bad(await add([{ text: "fine" }, { text: "fine" }, { text: "   " }]), "input.documents[2].text", /must not be empty/);
      bad(await add([{ text: "é".repeat(10_001) }]), "input.documents[0].text", /20002 bytes of UTF-8; the limit is 20000/);
      bad(await add([{ text: "ok", title: "t".repeat(501) }]), "input.documents[0].title", /at most 500 characters/);
      bad(await add([{ text: "ok", metadata: { blob: "m".repeat(20_000) } }]), "input.documents[0].metadata", /bytes of JSON; the limit is 16384/);
      bad(await add([{ text: "nul \u0000 inside" }]), "input.documents[0].text", /NUL/);
      const issues = expectError(await add([{ text: "" }, { text: "ok" }, { text: "ok", title: "t".repeat(600) }]), "BAD_USER_INPUT").extensions?.issues;
      assert.deepEqual(issues.map((i: any) => i.path), ["input.documents[0].text", "input.documents[2].title"], "every problem is reported");
      for (const id of ["nope", "00000000-0000-7000-8000-000000000000"]) {
        expectError(await run(ADD, { input: { corpusId: id, documents: [{ text: "t" }] } }), "NOT_FOUND", "input.corpusId");
        expectError(await run(`mutation($id: ID!) { deleteCorpus(id: $id) }`, { id }), "NOT_FOUND", "id");
        expectError(await run(SEARCH, { input: { corpusId: id, query: "q" } }), "NOT_FOUND", "input.corpusId");
        assert.equal(expectData<any>(await run(CORPUS, { id })).corpus, null);
      }
      bad(await run(SEARCH, { input: { corpusId, query: "q", k: 0 } }), "input.k", /from 1 to 100/);
      bad(await run(SEARCH, { input: { corpusId, query: " " } }), "input.query", /must not be empty/);
      assert.deepEqual(await rows(), before, "no corpus, document or audit event was written");
    });

    it("lists corpora as a Relay connection with a filter, and deletes one with its documents", async () => {
      const other = expectData<any>(await run(CREATE, { input: { name: "Other Facts" } })).createCorpus;
      const page = expectData<any>(await run(`{ corpora(first: 1, filter: { nameContains: "FACTS" }) { totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }`)).corpora;
      assert.equal(page.totalCount, 2);
      assert.deepEqual(page.edges.map((e: any) => e.node.name), ["facts"]);
      const next = expectData<any>(await run(`query($after: String) { corpora(first: 1, after: $after, filter: { nameContains: "facts" }) { edges { node { name } } pageInfo { hasNextPage } } }`, { after: page.pageInfo.endCursor })).corpora;
      assert.deepEqual(next.edges.map((e: any) => e.node.name), ["Other Facts"]);
      assert.equal(next.pageInfo.hasNextPage, false);
      assert.deepEqual(expectData<any>(await run(`{ corpora(filter: { status: READY }) { edges { node { name } } } }`)).corpora.edges.map((e: any) => e.node.name), ["facts"]);
      expectData(await run(ADD, { input: { corpusId: other.id, documents: [{ text: "to be deleted" }] } }));
      assert.equal(expectData<any>(await run(`mutation($id: ID!) { deleteCorpus(id: $id) }`, { id: other.id })).deleteCorpus, other.id);
      assert.equal(await server().countRows(`corpus_document WHERE corpusId = '${other.id}'`), 0);
      assert.equal(expectData<any>(await run(CORPUS, { id: other.id })).corpus, null);
    });

    it("embeds 1,000 documents end to end with the local model", async function () {
      this.timeout(300_000);
      const id = expectData<any>(await run(CREATE, { input: { name: "thousand" } })).createCorpus.id;
      const started = performance.now();
      const added = expectData<any>(await run(ADD, { input: { corpusId: id, documents: thousandDocuments() } })).addDocuments;
      assert.equal(added.documents.length, 1000);
      const ready = await waitForStatus(run, id, "READY", 240_000);
      const seconds = (performance.now() - started) / 1000;
      console.log(`      1,000 documents stored and embedded (all-MiniLM-L6-v2, 1 worker) in ${seconds.toFixed(1)} s (${(1000 / seconds).toFixed(0)} documents/s)`);
      assert.equal(ready.embeddedCount, 1000);
      const searchStarted = performance.now();
      const hits = expectData<any>(await run(SEARCH, { input: { corpusId: id, query: "What is the launch code of project Nightingale?", k: 3 } })).searchCorpus;
      console.log(`      first search of it (the worker is sent the corpus, then searches): ${(performance.now() - searchStarted).toFixed(0)} ms`);
      assert.match(hits[0].text, /Nightingale is the word tangerine/);
    });
  },
  { DSPY_ADAPTER: "python", WORKERS: "1", OPTIMIZATION_WORKERS: "1" },
);

const SECRET = "corpora-test-secret-0123456789abcdef-0123456789ab";
const AUTH = jwtAuth(SECRET);

function bearer(tenant: string, role: string, sub: string): Promise<Record<string, string>> {
  return AUTH.bearer(sub, role, tenant);
}

describe("corpora: roles and tenants", function () {
  this.timeout(60_000);
  let server: TestServer;
  const run = (query: string, variables: Record<string, unknown>, headers: Record<string, string>) => graphql(server.url, query, variables, headers);
  let editorA: Record<string, string>;
  let viewerA: Record<string, string>;
  let runnerA: Record<string, string>;
  let adminB: Record<string, string>;
  let corpusA: string;

  before(async () => {
    server = await startTestServer(databaseTargets()[0], AUTH.env);
    editorA = await bearer("tenant-a", "editor", "ed");
    viewerA = await bearer("tenant-a", "viewer", "vic");
    runnerA = await bearer("tenant-a", "runner", "rita");
    adminB = await bearer("tenant-b", "admin", "bob");
    corpusA = expectData<any>(await run(CREATE, { input: { name: "shared-name" } }, editorA)).createCorpus.id;
    expectData(await run(ADD, { input: { corpusId: corpusA, documents: [{ text: "the red fox jumps" }, { text: "blue whales sing" }] } }, editorA));
    const deadline = Date.now() + 20_000;
    while (expectData<any>(await run(CORPUS, { id: corpusA }, editorA)).corpus.status !== "READY") {
      assert.ok(Date.now() < deadline, "the in-process adapter embeds the corpus");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  after(async () => {
    await server?.stop();
  });

  it("viewers read and search; only editors create, add and delete", async () => {
    const read = expectData<any>(await run(CORPUS, { id: corpusA }, viewerA)).corpus;
    assert.deepEqual([read.status, read.documentCount, read.embeddedCount], ["READY", 2, 2]);
    const hits = expectData<any>(await run(SEARCH, { input: { corpusId: corpusA, query: "whales", k: 1 } }, viewerA)).searchCorpus;
    assert.equal(hits[0].text, "blue whales sing");
    for (const caller of [viewerA, runnerA]) {
      expectError(await run(CREATE, { input: { name: "nope" } }, caller), "FORBIDDEN");
      expectError(await run(ADD, { input: { corpusId: corpusA, documents: [{ text: "t" }] } }, caller), "FORBIDDEN");
      expectError(await run(`mutation($id: ID!) { deleteCorpus(id: $id) }`, { id: corpusA }, caller), "FORBIDDEN");
    }
    assert.equal(await server.countRows("corpus"), 1);
    assert.equal(await server.countRows("corpus_document"), 2);
  });

  it("another tenant never sees a corpus: null, NOT_FOUND, absent from lists; the same name is free there", async () => {
    assert.equal(expectData<any>(await run(CORPUS, { id: corpusA }, adminB)).corpus, null);
    assert.equal(expectData<any>(await run(`{ corpora { totalCount } }`, {}, adminB)).corpora.totalCount, 0);
    expectError(await run(ADD, { input: { corpusId: corpusA, documents: [{ text: "t" }] } }, adminB), "NOT_FOUND", "input.corpusId");
    expectError(await run(`mutation($id: ID!) { deleteCorpus(id: $id) }`, { id: corpusA }, adminB), "NOT_FOUND", "id");
    expectError(await run(SEARCH, { input: { corpusId: corpusA, query: "fox" } }, adminB), "NOT_FOUND", "input.corpusId");
    const entities = expectData<any>(await run(`query($r: [_Any!]!) { _entities(representations: $r) { ... on Corpus { id name } } }`, { r: [{ __typename: "Corpus", id: corpusA }] }, adminB))._entities;
    assert.deepEqual(entities, [null]);
    const own = expectData<any>(await run(CREATE, { input: { name: "shared-name" } }, adminB)).createCorpus;
    assert.notEqual(own.id, corpusA);
    assert.equal(await server.countRows("corpus_document"), 2);
  });
});
