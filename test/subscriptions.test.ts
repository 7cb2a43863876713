import assert from "node:assert/strict";
import { qaDefinition } from "./support/fixtures.js";
import { collect, expectData, graphql, wsClient } from "./support/graphql.js";
import { describeEachDatabase } from "./support/harness.js";

const PROGRAM_CHANGED = `subscription($id: ID!) { programChanged(id: $id) { kind programId version at program { name } newVersion { number } } }`;

describeEachDatabase("programChanged over graphql-ws", (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);

  it("delivers every change of one program, in order, and nothing about others", async () => {
    const program = expectData(await run(`mutation($d: JSON!) { createProgram(input: { name: "watched", definition: $d }) { id } }`, { d: qaDefinition() })).createProgram;
    const other = expectData(await run(`mutation($d: JSON!) { createProgram(input: { name: "unwatched", definition: $d }) { id } }`, { d: qaDefinition() })).createProgram;
    const client = wsClient(server().wsUrl);
    try {
      const events = collect<any>(client, PROGRAM_CHANGED, { id: program.id }, 3);
      await events.ready;
      expectData(await run(`mutation($id: ID!) { updateProgram(input: { id: $id, name: "other-renamed" }) { id } }`, { id: other.id }));
      expectData(await run(`mutation($id: ID!) { updateProgram(input: { id: $id, name: "watched-2" }) { id } }`, { id: program.id }));
      expectData(await run(`mutation($id: ID!, $d: JSON!) { updateProgram(input: { id: $id, definition: $d }) { id } }`, { id: program.id, d: qaDefinition("v2") }));
      expectData(await run(`mutation($id: ID!) { deleteProgram(id: $id) }`, { id: program.id }));
      const received = (await events.done).map((e) => e.programChanged);
      assert.deepEqual(
        received.map((e) => [e.kind, e.programId, e.version]),
        [
          ["UPDATED", program.id, 2],
          ["UPDATED", program.id, 3],
          ["DELETED", program.id, 3],
        ],
      );
      assert.ok(received.every((e) => !Number.isNaN(Date.parse(e.at))));
      assert.equal(received[2].program, null, "a deleted program reads as null");
    } finally {
      await client.dispose();
    }
  });

  it("resolves the changed program and the version a change created", async () => {
    const program = expectData(await run(`mutation($d: JSON!) { createProgram(input: { name: "watched-b", definition: $d }) { id } }`, { d: qaDefinition() })).createProgram;
    const client = wsClient(server().wsUrl);
    try {
      const events = collect<any>(client, PROGRAM_CHANGED, { id: program.id }, 1);
      await events.ready;
      expectData(await run(`mutation($id: ID!, $d: JSON!) { updateProgram(input: { id: $id, definition: $d }) { id } }`, { id: program.id, d: qaDefinition("v2") }));
      const [event] = (await events.done).map((e) => e.programChanged);
      assert.equal(event.kind, "UPDATED");
      assert.equal(event.program.name, "watched-b");
      assert.equal(event.newVersion.number, 2);
    } finally {
      await client.dispose();
    }
  });

  it("refuses to subscribe to a program that does not exist", async () => {
    const client = wsClient(server().wsUrl);
    try {
      const events = collect<any>(client, PROGRAM_CHANGED, { id: "00000000-0000-7000-8000-000000000000" }, 1, 5_000);
      await assert.rejects(events.done, (error: any) => {
        assert.equal(error.errors?.[0]?.extensions?.code, "NOT_FOUND");
        return true;
      });
    } finally {
      await client.dispose();
    }
  });
});
