import assert from "node:assert/strict";
import { EventEmitter, on } from "node:events";
import { GraphQLObjectType, GraphQLSchema, GraphQLString, type ExecutionResult, type FormattedExecutionResult, parse } from "graphql";
import { broadcast } from "../src/graphql/broadcast.js";
import { sharedSubscribe } from "../src/graphql/sharedSubscribe.js";
import { credentialLapse } from "../src/auth/authChecker.js";
import type { Principal } from "../src/auth/roles.js";
import { AppError } from "../src/errors.js";

const SLOW_BYTES = 1000;
const sharedSubscribeWith = () => sharedSubscribe({ formatResult: (result) => result as FormattedExecutionResult, slowSubscriberBytes: SLOW_BYTES });

/**
 * A schema whose subscription yields the bus's events and whose field counts how often it is resolved;
 * `broadcasts`: its source is marked broadcast.
 */
function counting(broadcasts = false) {
  const bus = new EventEmitter();
  let resolved = 0;
  const Event = new GraphQLObjectType({
    name: "Event",
    fields: {
      text: {
        type: GraphQLString,
        // As authChecker does on every field: refused once the executing context's credentials lapsed.
        resolve: async (event: { text: string }, _args: unknown, ctx: { principal?: Principal; services?: { apiKeys: RevokedKeys } }) => {
          resolved += 1;
          const lapse = ctx.principal ? await credentialLapse(ctx.principal, ctx.services?.apiKeys) : null;
          if (lapse) throw lapse;
          return event.text;
        },
      },
    },
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: "Query", fields: { ok: { type: GraphQLString } } }),
    subscription: new GraphQLObjectType({
      name: "Subscription",
      fields: {
        events: {
          type: Event,
          subscribe: () => {
            // A plain iterator, not a generator: returned while waiting, it lets go of the bus at once.
            const events = on(bus, "event");
            const source: AsyncIterableIterator<unknown> = {
              async next() {
                const item = await events.next();
                const event = item.value?.[0] as { end?: boolean; fail?: boolean } | undefined;
                if (item.done || event?.end) return { done: true, value: undefined };
                if (event?.fail) throw new AppError("INTERNAL", "the source failed");
                return { done: false, value: event };
              },
              return: () => events.return?.() ?? Promise.resolve({ done: true, value: undefined }),
              [Symbol.asyncIterator]() {
                return this;
              },
            };
            return broadcasts ? broadcast(source) : source;
          },
          resolve: (event: unknown) => event,
        },
      },
    }),
  });
  return { bus, schema, resolved: () => resolved };
}

const context = (tenantId: string, role: string) => ({ scope: { tenantId }, principal: { role } });

/** The revocations ApiKeyService would know of. */
class RevokedKeys {
  readonly ids = new Set<string>();
  /** Keys whose lookup fails, as with the database unreachable. */
  readonly failing = new Set<string>();
  asked = 0;
  async isRevoked(id: string): Promise<boolean> {
    this.asked += 1;
    if (this.failing.has(id)) throw new Error("the database went away");
    return this.ids.has(id);
  }
}

async function subscribe(schema: GraphQLSchema, contextValue: unknown, shared = sharedSubscribeWith()) {
  const stream = await shared({ schema, document: parse("subscription { events { text } }"), contextValue });
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

/** A subscriber's transport as graphql-ws gives it to the context: what it was sent, and how much it holds unsent. */
function sink(tenantId: string, role = "VIEWER") {
  const sent: string[] = [];
  const transport = { sent, writes: 0, unsent: 0 };
  const sendNext = (payloads: readonly string[]) => {
    transport.writes += 1;
    sent.push(...payloads);
  };
  const contextValue = { ...context(tenantId, role), sendNext, unsent: () => transport.unsent };
  return { transport, contextValue };
}

/** Past the turn in which a group writes what its source gave (it writes on the next turn). */
const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

describe("sharedSubscribe: broadcast sources share one source, execution and JSON text per group", () => {
  it("writes each event once to every member of a group, with one execution and one open source per group", async () => {
    const { bus, schema, resolved } = counting(true);
    const shared = sharedSubscribeWith();
    const members = [sink("t1"), sink("t1"), sink("t1")];
    const other = sink("t2");
    const streams = await Promise.all([...members, other].map((m) => subscribe(schema, m.contextValue, shared)));
    const parked = streams.map((s) => s.next());
    await tick();
    assert.equal(bus.listenerCount("event"), 2, "one source for t1's three members, one for t2");
    bus.emit("event", { text: "hello" });
    bus.emit("event", { text: "again" });
    await tick();
    for (const m of [...members, other]) {
      assert.deepEqual(m.transport.sent, ['{"data":{"events":{"text":"hello"}}}', '{"data":{"events":{"text":"again"}}}']);
      assert.equal(m.transport.writes, 1, "two events of one turn go out in one write");
    }
    assert.equal(resolved(), 4, "each event once per group");
    await Promise.all(streams.map((s) => s.return(undefined)));
    assert.deepEqual(await Promise.all(parked), streams.map(() => ({ done: true, value: undefined })), "a returned member's iterator ends");
    await tick();
    assert.equal(bus.listenerCount("event"), 0, "the last member to leave closes its group's source");
  });

  it("keeps a group for the members that stay, and starts a new one after the last left", async () => {
    const { bus, schema } = counting(true);
    const shared = sharedSubscribeWith();
    const [a, b] = [sink("t1"), sink("t1")];
    const [streamA, streamB] = await Promise.all([a, b].map((m) => subscribe(schema, m.contextValue, shared)));
    void streamA.next();
    void streamB.next();
    await tick();
    await streamA.return(undefined);
    bus.emit("event", { text: "one" });
    await tick();
    assert.deepEqual(a.transport.sent, []);
    assert.deepEqual(b.transport.sent, ['{"data":{"events":{"text":"one"}}}']);
    await streamB.return(undefined);
    await tick();
    const c = sink("t1");
    const streamC = await subscribe(schema, c.contextValue, shared);
    void streamC.next();
    await tick();
    bus.emit("event", { text: "two" });
    await tick();
    assert.deepEqual(c.transport.sent, ['{"data":{"events":{"text":"two"}}}']);
    assert.deepEqual(b.transport.sent, ['{"data":{"events":{"text":"one"}}}'], "nothing after it left");
    await streamC.return(undefined);
  });

  it("drops a member whose transport holds more than the limit unsent with SLOW_SUBSCRIBER, and only that one", async () => {
    const { bus, schema } = counting(true);
    const shared = sharedSubscribeWith();
    const [slow, fast] = [sink("t1"), sink("t1")];
    const [slowStream, fastStream] = await Promise.all([slow, fast].map((m) => subscribe(schema, m.contextValue, shared)));
    const slowNext = slowStream.next();
    void fastStream.next();
    await tick();
    slow.transport.unsent = SLOW_BYTES + 1;
    bus.emit("event", { text: "x" });
    await assert.rejects(slowNext, (error: unknown) => error instanceof AppError && error.code === "SLOW_SUBSCRIBER" && /more than 1000 bytes/.test(error.message));
    assert.deepEqual(slow.transport.sent, []);
    assert.deepEqual(fast.transport.sent, ['{"data":{"events":{"text":"x"}}}']);
    bus.emit("event", { text: "y" });
    await tick();
    assert.equal(fast.transport.sent.length, 2);
    assert.equal(slow.transport.sent.length, 0);
    await fastStream.return(undefined);
  });

  it("ends a member whose transport throws, and still writes to the others", async () => {
    const { bus, schema } = counting(true);
    const shared = sharedSubscribeWith();
    const broken = sink("t1");
    broken.contextValue.sendNext = () => {
      throw new Error("socket gone");
    };
    const fine = sink("t1");
    const [brokenStream, fineStream] = await Promise.all([broken, fine].map((m) => subscribe(schema, m.contextValue, shared)));
    const brokenNext = brokenStream.next();
    void fineStream.next();
    await tick();
    bus.emit("event", { text: "z" });
    await assert.rejects(brokenNext, /socket gone/);
    await tick();
    assert.deepEqual(fine.transport.sent, ['{"data":{"events":{"text":"z"}}}']);
    await fineStream.return(undefined);
  });

  it("ends every member when the source ends, and rejects every member when it fails", async () => {
    for (const [event, expect] of [[{ end: true }, "done"], [{ fail: true }, "failed"]] as const) {
      const { bus, schema } = counting(true);
      const shared = sharedSubscribeWith();
      const streams = await Promise.all([sink("t1"), sink("t1")].map((m) => subscribe(schema, m.contextValue, shared)));
      const parked = streams.map((s) => s.next());
      await tick();
      bus.emit("event", event);
      const outcomes = await Promise.allSettled(parked);
      for (const outcome of outcomes) {
        if (expect === "done") assert.deepEqual(outcome, { status: "fulfilled", value: { done: true, value: undefined } });
        else assert.ok(outcome.status === "rejected" && /the source failed/.test(String(outcome.reason)), JSON.stringify(outcome));
      }
    }
  });

  it("without a transport to write to (SSE), each subscriber keeps its own loop", async () => {
    const { bus, schema } = counting(true);
    const shared = sharedSubscribeWith();
    const streams = await Promise.all([1, 2].map(() => subscribe(schema, context("t1", "VIEWER"), shared)));
    const next = streams.map((s) => s.next());
    await tick();
    bus.emit("event", { text: "own" });
    for (const item of await Promise.all(next)) assert.equal(JSON.stringify(item.value?.data), JSON.stringify({ events: { text: "own" } }));
    await Promise.all(streams.map((s) => s.return(undefined)));
  });
});

describe("sharedSubscribe: each subscriber's own credentials, checked before every event", () => {
  const principal = (extra: Partial<Principal>) => ({ subject: "s", tenantId: "t1", role: "viewer", via: "api_key", ...extra }) as Principal;
  const keyed = (apiKeys: RevokedKeys, extra: Partial<Principal>) => ({ scope: { tenantId: "t1" }, principal: principal(extra), services: { apiKeys } });
  const data = (item: IteratorResult<ExecutionResult>) => JSON.stringify(item.value?.data);

  for (const broadcasts of [false, true]) {
    it(`${broadcasts ? "broadcast group" : "own loops"}: ends only the subscriber whose key was revoked or whose token expired (UNAUTHENTICATED as its last event), the first one to subscribe included; the others still share one execution`, async () => {
      const { bus, schema, resolved } = counting(broadcasts);
      const shared = sharedSubscribeWith();
      const apiKeys = new RevokedKeys();
      const contexts = [
        keyed(apiKeys, { apiKeyId: "k1" }),
        keyed(apiKeys, { apiKeyId: "k2" }),
        keyed(apiKeys, { via: "jwt", expiresAt: new Date(Date.now() + 150) }),
        keyed(apiKeys, { via: "jwt", expiresAt: new Date(Date.now() + 60_000) }),
      ];
      // A broadcast group writes to the transport; own loops are read through their iterators.
      const sinks = contexts.map((c) => {
        const sent: string[] = [];
        return { sent, contextValue: broadcasts ? { ...c, sendNext: (p: readonly string[]) => void sent.push(...p), unsent: () => 0 } : c };
      });
      const streams = await Promise.all(sinks.map((s) => subscribe(schema, s.contextValue, shared)));
      const received = async (index: number) => (broadcasts ? sinks[index]!.sent.at(-1) : data(await streams[index]!.next()));
      const parked = broadcasts ? streams.map((s) => s.next()) : [];
      await tick();

      bus.emit("event", { text: "one" });
      await tick();
      for (let i = 0; i < 4; i++) assert.equal(await received(i), broadcasts ? '{"data":{"events":{"text":"one"}}}' : '{"events":{"text":"one"}}');
      assert.equal(resolved(), 1);

      apiKeys.ids.add("k1");
      await new Promise((resolve) => setTimeout(resolve, 200)); // the first token expired
      const nexts = broadcasts ? parked : streams.map((s) => s.next());
      bus.emit("event", { text: "two" });
      const lapseMessage = (payload: any) => (payload?.data === null ? String(payload.errors?.[0]?.message) : `not a lapse: ${JSON.stringify(payload)}`);
      if (broadcasts) {
        // The lapsed members' iterators end (the transport completes), after their last event was written.
        assert.deepEqual(await Promise.all([nexts[0]!, nexts[2]!]), [{ done: true, value: undefined }, { done: true, value: undefined }]);
        await tick();
        assert.deepEqual(sinks.map((s) => s.sent.length), [2, 2, 2, 2]);
        assert.deepEqual([sinks[0]!, sinks[2]!].map((s) => lapseMessage(JSON.parse(s.sent[1]!))), ["not authenticated: API key revoked", "not authenticated: token expired"]);
        assert.equal(sinks[1]!.sent[1], '{"data":{"events":{"text":"two"}}}');
        assert.equal(sinks[3]!.sent[1], '{"data":{"events":{"text":"two"}}}');
      } else {
        const items = await Promise.all(nexts);
        assert.deepEqual([items[0]!, items[2]!].map((item) => lapseMessage(item.value)), ["not authenticated: API key revoked", "not authenticated: token expired"]);
        const original = (items[0]!.value as ExecutionResult).errors![0]!.originalError;
        assert.ok(original instanceof AppError && original.code === "UNAUTHENTICATED");
        assert.deepEqual(await Promise.all([streams[0]!.next(), streams[2]!.next()]), [{ done: true, value: undefined }, { done: true, value: undefined }], "then it completes");
        for (const item of [items[1]!, items[3]!]) assert.equal(data(item), '{"events":{"text":"two"}}');
      }
      assert.equal(resolved(), 2, "one execution for those who remain, with nobody's lapsed credentials");
      await Promise.all([streams[1]!.return(undefined), streams[3]!.return(undefined)]);
      await tick();
      assert.equal(bus.listenerCount("event"), 0, "the ended subscribers' sources are closed too");
    });
  }

  it("asks once per event for the members of a group on one API key", async () => {
    const { bus, schema } = counting(true);
    bus.setMaxListeners(200); // each subscribe opens its own source before joining the group, which closes it
    const shared = sharedSubscribeWith();
    const apiKeys = new RevokedKeys();
    const sinks = Array.from({ length: 100 }, () => {
      const sent: string[] = [];
      return { sent, contextValue: { ...keyed(apiKeys, { apiKeyId: "k9" }), sendNext: (p: readonly string[]) => void sent.push(...p), unsent: () => 0 } };
    });
    const streams = await Promise.all(sinks.map((s) => subscribe(schema, s.contextValue, shared)));
    const parked = streams.map((s) => s.next());
    await tick();
    apiKeys.asked = 0;
    bus.emit("event", { text: "one" });
    await tick();
    assert.equal(apiKeys.asked, 1);
    assert.ok(sinks.every((s) => s.sent.length === 1));
    apiKeys.ids.add("k9");
    bus.emit("event", { text: "two" });
    const ended = await Promise.all(parked);
    assert.ok(ended.every((item) => item.done), "every member on the revoked key ended");
    assert.ok(sinks.every((s) => s.sent.length === 2 && /API key revoked/.test(s.sent[1]!)), "after the UNAUTHENTICATED error as its last event");
    assert.equal(apiKeys.asked, 2);
    await tick();
    assert.equal(bus.listenerCount("event"), 0, "the group closed with its last member");
  });

  for (const broadcasts of [false, true]) {
    it(`${broadcasts ? "broadcast group" : "own loops"}: a credential check that fails ends that subscriber with the failure as its last event, and no other`, async () => {
      const { bus, schema } = counting(broadcasts);
      const shared = sharedSubscribeWith();
      const apiKeys = new RevokedKeys();
      const sinks = ["k1", "k2"].map((apiKeyId) => {
        const sent: string[] = [];
        const c = keyed(apiKeys, { apiKeyId });
        return { sent, contextValue: broadcasts ? { ...c, sendNext: (p: readonly string[]) => void sent.push(...p), unsent: () => 0 } : c };
      });
      const streams = await Promise.all(sinks.map((s) => subscribe(schema, s.contextValue, shared)));
      const nexts = streams.map((s) => s.next());
      await tick();
      apiKeys.failing.add("k1");
      bus.emit("event", { text: "one" });
      if (broadcasts) {
        assert.deepEqual(await nexts[0], { done: true, value: undefined });
        await tick();
        assert.equal(JSON.parse(sinks[0]!.sent[0]!).errors[0].message, "the database went away");
        assert.deepEqual(sinks[1]!.sent, ['{"data":{"events":{"text":"one"}}}']);
      } else {
        const [failed, fine] = await Promise.all(nexts);
        assert.equal((failed!.value as ExecutionResult).errors?.[0]?.message, "the database went away");
        assert.deepEqual(await streams[0]!.next(), { done: true, value: undefined });
        assert.equal(data(fine!), '{"events":{"text":"one"}}');
      }
      await streams[1]!.return(undefined);
      await tick();
      assert.equal(bus.listenerCount("event"), 0);
    });
  }
});
