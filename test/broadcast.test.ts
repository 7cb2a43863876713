import assert from "node:assert/strict";
import WebSocket from "ws";
import { collect, expectData, graphql, wsClient } from "./support/graphql.js";
import { describeEachDatabase } from "./support/harness.js";
import { createProgram, dummyLm } from "./support/stacks.js";

const EVENTS = `subscription($p: ID!, $s: [ExecutionStatus!]) { executionEvents(programId: $p, statuses: $s) { id status lastEvent { seq to } } }`;
const EXECUTE = `mutation($p: ID!, $q: String!) { executeProgram(input: { programId: $p, inputs: { question: $q, n: 1 }, wait: true }) { id status } }`;
const WITH_INPUTS = `subscription($p: ID!) { executionEvents(programId: $p) { id status inputs } }`;
const OPEN = /dspy_graphql_subscriptions_open\{transport="ws"\} (\d+)/;

/**
 * executionEvents is a broadcast subscription (src/graphql/broadcast.ts): subscribers with the same
 * operation share one source and get the same JSON text written to their sockets. These are real
 * graphql-ws clients on real sockets.
 */
describeEachDatabase("executionEvents broadcast to many graphql-ws subscribers", (server) => {
  let programId: string;
  const execute = async (question: string) => expectData(await graphql(server().url, EXECUTE, { p: programId, q: question })).executeProgram as { id: string; status: string };
  const transitions = (received: any[]) => received.map((r) => [r.executionEvents.id, r.executionEvents.lastEvent.seq, r.executionEvents.lastEvent.to]);
  const openSubscriptions = async () => Number(OPEN.exec(await (await fetch(`${server().url.replace(/\/graphql$/, "")}/metrics`)).text())?.[1]);

  before(async () => {
    ({ programId } = await createProgram(server().url, "broadcast", dummyLm({ France: { answer: "Paris" } })));
  });

  it("gives every subscriber of one operation each transition once, in order, and a filtered one only its statuses", async () => {
    const clients = [1, 2, 3, 4].map(() => wsClient(server().wsUrl));
    try {
      const same = clients.slice(0, 3).map((client) => collect<any>(client, EVENTS, { p: programId }, 6));
      const completedOnly = collect<any>(clients[3], EVENTS, { p: programId, s: ["COMPLETED"] }, 2);
      await Promise.all([...same, completedOnly].map((c) => c.ready));
      const first = await execute("France? 1");
      const second = await execute("France? 2");
      const expected = [first, second].flatMap((e) => [[e.id, 1, "PENDING"], [e.id, 2, "RUNNING"], [e.id, 3, "COMPLETED"]]);
      for (const subscriber of same) assert.deepEqual(transitions(await subscriber.done), expected);
      assert.deepEqual(transitions(await completedOnly.done), [[first.id, 3, "COMPLETED"], [second.id, 3, "COMPLETED"]]);
    } finally {
      await Promise.all(clients.map((client) => client.dispose()));
    }
  });

  it("keeps delivering to those who stay when one unsubscribes or its socket drops, and lets a newcomer join", async () => {
    const [leaving, dropping, staying, joining] = [1, 2, 3, 4].map(() => wsClient(server().wsUrl));
    try {
      const left = collect<any>(leaving, EVENTS, { p: programId }, 3);
      const dropped = collect<any>(dropping, EVENTS, { p: programId }, 3);
      const stays = collect<any>(staying, EVENTS, { p: programId }, 6);
      await Promise.all([left.ready, dropped.ready, stays.ready]);
      const first = await execute("France? 3");
      await Promise.all([left.done, dropped.done]);
      left.unsubscribe();
      await dropping.dispose();
      const joined = collect<any>(joining, EVENTS, { p: programId }, 3);
      await joined.ready;
      const second = await execute("France? 4");
      const ofSecond = [[second.id, 1, "PENDING"], [second.id, 2, "RUNNING"], [second.id, 3, "COMPLETED"]];
      assert.deepEqual(transitions(await stays.done), [[first.id, 1, "PENDING"], [first.id, 2, "RUNNING"], [first.id, 3, "COMPLETED"], ...ofSecond]);
      assert.deepEqual(transitions(await joined.done), ofSecond);
    } finally {
      await Promise.all([leaving, dropping, staying, joining].map((client) => client.dispose()));
    }
    // Every subscription ended, however it ended (complete, closed socket): none is left open.
    const deadline = Date.now() + 5_000;
    while ((await openSubscriptions()) !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await openSubscriptions(), 0);
  });

  it("drops a subscriber whose socket holds more than SUBSCRIBER_BUFFER_BYTES unsent with SLOW_SUBSCRIBER, and only that one", async () => {
    // A plain graphql-transport-ws client whose TCP socket stops reading after its first message.
    const socket = new WebSocket(server().wsUrl, "graphql-transport-ws");
    const messages: any[] = [];
    socket.on("message", (data) => {
      const message = JSON.parse(String(data));
      messages.push(message);
      if (message.type === "connection_ack") socket.send(JSON.stringify({ id: "slow", type: "subscribe", payload: { query: WITH_INPUTS, variables: { p: programId } } }));
      if (message.type === "next" && messages.filter((m) => m.type === "next").length === 1) (socket as unknown as { _socket: { pause(): void } })._socket.pause();
    });
    await new Promise((resolve) => socket.once("open", resolve));
    socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
    const client = wsClient(server().wsUrl);
    // 20 executions of 3 transitions, each message carrying a 300 KB input: ~18 MB, past what the kernel's
    // socket buffers hold, so the server's own buffer for the paused socket passes 1,024 bytes.
    const count = 20;
    try {
      const reader = collect<any>(client, WITH_INPUTS, { p: programId }, count * 3, 60_000);
      await reader.ready;
      const big = "x".repeat(300 * 1024);
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push((await execute(`France? ${i} ${big}`)).id);
      const received = await reader.done;
      assert.deepEqual(received.map((r) => r.executionEvents.id), ids.flatMap((id) => [id, id, id]), "the reading subscriber got every transition");
      (socket as unknown as { _socket: { resume(): void } })._socket.resume();
      const deadline = Date.now() + 30_000;
      while (!messages.some((m) => m.type === "error" || m.type === "complete") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      const errors = messages.filter((m) => m.type === "error");
      assert.equal(errors.length, 1, JSON.stringify(messages.map((m) => m.type)));
      assert.equal(errors[0].id, "slow");
      assert.equal(errors[0].payload[0].extensions.code, "SLOW_SUBSCRIBER");
      assert.match(errors[0].payload[0].message, /read too slowly: more than 1024 bytes/);
      const nexts = messages.filter((m) => m.type === "next").length;
      assert.ok(nexts > 0 && nexts < count * 3, `dropped part way: ${nexts} of ${count * 3} transitions`);
      console.log(`      the paused subscriber got ${nexts} of ${count * 3} transitions before SLOW_SUBSCRIBER`);
    } finally {
      socket.close();
      await client.dispose();
    }
  });
}, { SUBSCRIBER_BUFFER_BYTES: "1024" });
