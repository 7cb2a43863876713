import assert from "node:assert/strict";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { expectData, graphql } from "./support/graphql.js";
import { databaseTargets, startTestServer } from "./support/harness.js";
import { createProgram, dummyLm } from "./support/stacks.js";

describe("subscriptions end cleanly", function () {
  this.timeout(60_000);

  it("executionUpdated completes after the terminal state; a stopping server closes sockets with 1001 Going Away", async () => {
    const server = await startTestServer(databaseTargets()[0]!);
    let closedWith: number | undefined;
    const client = createClient({ url: server.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, onNonLazyError: () => undefined, on: { closed: (event) => (closedWith = (event as { code: number }).code) } });
    try {
      const program = await createProgram(server.url, "ending", dummyLm({ France: { answer: "Paris" } }));
      const done = expectData(await graphql(server.url, `mutation($p: ID!) { executeProgram(input: { programId: $p, inputs: { question: "capital of France?", n: 1 }, wait: true }) { id status } }`, { p: program.programId })).executeProgram;
      assert.equal(done.status, "COMPLETED");
      // The current state, then `complete`: nothing more will happen to a terminal execution.
      const received: string[] = [];
      await new Promise<void>((resolve, reject) => {
        client.subscribe<any>({ query: `subscription($id: ID!) { executionUpdated(id: $id) { status } }`, variables: { id: done.id } }, {
          next: (result) => received.push(result.data?.executionUpdated?.status),
          error: reject,
          complete: resolve,
        });
      });
      assert.deepEqual(received, ["COMPLETED"]);

      // An open subscription when the server stops: the socket closes with 1001.
      let listening!: () => void;
      const ready = new Promise<void>((resolve) => (listening = resolve));
      client.subscribe({ query: `subscription($p: ID!) { executionEvents(programId: $p) { id } }`, variables: { p: program.programId } }, { next: () => undefined, error: () => undefined, complete: () => undefined });
      client.on("connected", () => listening());
      setTimeout(() => listening(), 300);
      await ready;
      await server.stop();
      const deadline = Date.now() + 5_000;
      while (closedWith === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(closedWith, 1001);
    } finally {
      await client.dispose();
      await server.stop();
    }
  });
});
