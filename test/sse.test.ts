import assert from "node:assert/strict";
import { expectData, graphql } from "./support/graphql.js";
import { databaseTargets, startTestServer, type TestServer } from "./support/harness.js";
import { createProgram, dummyLm } from "./support/stacks.js";

/** The events of a graphql-sse ("distinct connections") response: `[event, data]` pairs, until the stream ends. */
async function sse(url: string, query: string, variables: Record<string, unknown>): Promise<{ status: number; events: [string, any][] }> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream" }, body: JSON.stringify({ query, variables }) });
  const text = await response.text();
  const events = text
    .split("\n\n")
    .filter((block) => block.includes("event:"))
    .map((block): [string, any] => {
      const event = /event: (\w+)/.exec(block)![1]!;
      const data = /data: (.*)/.exec(block)?.[1] ?? "";
      return [event, data ? JSON.parse(data) : null];
    });
  return { status: response.status, events };
}

describe("subscriptions over Server-Sent Events (graphql-sse)", function () {
  this.timeout(60_000);
  let server: TestServer;
  before(async () => {
    server = await startTestServer(databaseTargets()[0]!);
  });
  after(async () => {
    await server?.stop();
  });

  it("streams executionUpdated on POST /graphql with Accept: text/event-stream, then completes", async () => {
    const program = await createProgram(server.url, "sse", dummyLm({ France: { answer: "Paris" } }));
    const execution = expectData(await graphql(server.url, `mutation($p: ID!) { executeProgram(input: { programId: $p, inputs: { question: "capital of France?", n: 1 }, wait: true }) { id } }`, { p: program.programId })).executeProgram;
    const { status, events } = await sse(server.url, `subscription($id: ID!) { executionUpdated(id: $id) { id status outputs } }`, { id: execution.id });
    assert.equal(status, 200);
    assert.deepEqual(events, [
      ["next", { data: { executionUpdated: { id: execution.id, status: "COMPLETED", outputs: { answer: "Paris" } } } }],
      ["complete", null],
    ]);
  });

  it("applies the same limits and error shaping as the other transports", async () => {
    const deep = `subscription($id: ID!) { executionUpdated(id: $id) { program { executions { edges { node { program { executions { edges { node { program { executions { edges { node { id } } } } } } } } } } } } } }`;
    const { events } = await sse(server.url, deep, { id: "00000000-0000-7000-8000-000000000000" });
    const [, payload] = events[0]!;
    assert.equal(payload.errors[0].extensions.code, "QUERY_TOO_DEEP");
    const missing = await sse(server.url, `subscription { executionUpdated(id: "00000000-0000-7000-8000-000000000000") { id } }`, {});
    assert.equal(missing.events[0]![1].errors[0].extensions.code, "NOT_FOUND");
    assert.ok(!JSON.stringify(missing.events).includes("stack"));
  });

  it("leaves ordinary requests to the HTTP transport", async () => {
    const response = await graphql(server.url, `{ __typename }`);
    assert.deepEqual(response.data, { __typename: "Query" });
  });
});
