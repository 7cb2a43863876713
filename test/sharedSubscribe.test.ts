import assert from "node:assert/strict";
import { EventEmitter, on } from "node:events";
import { GraphQLObjectType, GraphQLSchema, GraphQLString, type ExecutionResult, parse } from "graphql";
import { sharedSubscribe } from "../src/graphql/sharedSubscribe.js";

/** A schema whose subscription yields the bus's events and whose field counts how often it is resolved. */
function counting() {
  const bus = new EventEmitter();
  let resolved = 0;
  const Event = new GraphQLObjectType({
    name: "Event",
    fields: { text: { type: GraphQLString, resolve: (event: { text: string }) => ((resolved += 1), event.text) } },
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: "Query", fields: { ok: { type: GraphQLString } } }),
    subscription: new GraphQLObjectType({
      name: "Subscription",
      fields: {
        events: {
          type: Event,
          subscribe: async function* () {
            for await (const [event] of on(bus, "event")) yield event;
          },
          resolve: (event: unknown) => event,
        },
      },
    }),
  });
  return { bus, schema, resolved: () => resolved };
}

const context = (tenantId: string, role: string) => ({ scope: { tenantId }, principal: { role } });

async function subscribe(schema: GraphQLSchema, contextValue: unknown) {
  const stream = await sharedSubscribe({ schema, document: parse("subscription { events { text } }"), contextValue });
  assert.ok(Symbol.asyncIterator in (stream as object), JSON.stringify(stream));
  return stream as AsyncGenerator<ExecutionResult>;
}

describe("sharedSubscribe: one execution per event for subscribers with the same operation and rights", () => {
  it("resolves an event once for every subscriber of one tenant and role, and once more per other tenant or role", async () => {
    const { bus, schema, resolved } = counting();
    const same = await Promise.all([1, 2, 3].map(() => subscribe(schema, context("t1", "VIEWER"))));
    const otherRole = await subscribe(schema, context("t1", "ADMIN"));
    const otherTenant = await subscribe(schema, context("t2", "VIEWER"));
    const all = [...same, otherRole, otherTenant];
    const next = all.map((s) => s.next());
    await new Promise((resolve) => setImmediate(resolve));
    bus.emit("event", { text: "hello" });
    const received = await Promise.all(next);
    for (const item of received) assert.equal(JSON.stringify(item.value?.data), JSON.stringify({ events: { text: "hello" } }));
    assert.equal(resolved(), 3, "once for t1/VIEWER (three subscribers), once for t1/ADMIN, once for t2/VIEWER");
    await Promise.all(all.map((s) => s.return(undefined)));
  });

  it("does not share without a principal", async () => {
    const { bus, schema, resolved } = counting();
    const anonymous = await Promise.all([1, 2].map(() => subscribe(schema, { scope: { tenantId: "t1" }, principal: null })));
    const next = anonymous.map((s) => s.next());
    await new Promise((resolve) => setImmediate(resolve));
    bus.emit("event", { text: "x" });
    await Promise.all(next);
    assert.equal(resolved(), 2);
    await Promise.all(anonymous.map((s) => s.return(undefined)));
  });
});
