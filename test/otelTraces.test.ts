import assert from "node:assert/strict";
import { contextFromTraceparent, traceIdOf } from "../src/observability/tracing.js";
import { trace } from "@opentelemetry/api";
import { describeEachDatabase } from "./support/harness.js";
import { expectData, graphql } from "./support/graphql.js";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "./support/otlpReceiver.js";
import { createProgram, dummyLm } from "./support/stacks.js";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";

// OTLP span kinds (trace.proto SpanKind).
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

const EXECUTE = `mutation ExecuteProgram($p: ID!, $i: JSON!) {
  executeProgram(input: { programId: $p, inputs: $i, wait: true }) { id status traceId trace outputs }
}`;

/** The spans of one trace that make the chain of one execution, each looked up by name (exactly one each). */
function chainOf(spans: ReceivedSpan[], traceId: string) {
  const mine = spans.filter((s) => s.traceId === traceId);
  const only = (name: string) => {
    const found = mine.filter((s) => s.name === name);
    assert.equal(found.length, 1, `expected one '${name}' span in trace ${traceId}, got ${found.length}: ${mine.map((s) => s.name).join(", ")}`);
    return found[0]!;
  };
  return {
    mine,
    graphql: only("mutation ExecuteProgram"),
    publish: only("execute-program publish"),
    job: only("execute-program process"),
    pool: only("worker-pool run"),
    run: only("dspy.run"),
    step: only("dspy.module a"),
    lm: only("chat dummy"),
  };
}

const complete = (traceId: string) => (spans: ReceivedSpan[]) =>
  ["mutation ExecuteProgram", "execute-program process", "worker-pool run", "dspy.run", "chat dummy"].every((name) => spans.some((s) => s.traceId === traceId && s.name === name));

describe("OpenTelemetry traces", function () {
  let receiver: OtlpReceiver;
  // Read by the harness when the suite's server starts (after this block's `before`).
  const env: Record<string, string> = { DSPY_ADAPTER: "python", WORKERS: "1", JOB_POLL_MS: "200" };

  before(async () => {
    receiver = await startOtlpReceiver();
    env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  });
  after(async () => {
    await receiver?.close();
  });

  describeEachDatabase(
    "one trace per execution across Node and Python",
    (server) => {
      let programId: string;

      before(async () => {
        ({ programId } = await createProgram(server().url, "traced", dummyLm({ France: { answer: "Paris" } })));
      });

      it("links GraphQL → job → pool → worker run → module step → LM call in the execution's trace, with GenAI attributes", async () => {
        const execution = expectData(await graphql(server().url, EXECUTE, { p: programId, i: { question: "Capital of France?", n: 1 } })).executeProgram;
        assert.equal(execution.status, "COMPLETED");
        assert.deepEqual(execution.outputs, { answer: "Paris" });
        assert.match(execution.traceId, /^[0-9a-f]{32}$/);
        // The stored trace keeps its shape: one entry per module call.
        assert.equal(execution.trace.length, 1);
        assert.equal(execution.trace[0].step, "a");

        const spans = await receiver.waitFor(complete(execution.traceId));
        const c = chainOf(spans, execution.traceId);
        // Both languages exported into this one trace.
        const services = new Set(c.mine.map((s) => s.resource["service.name"]));
        assert.deepEqual([...services].sort(), ["dspy-subgraph", "dspy-subgraph-worker"]);
        for (const node of [c.graphql, c.publish, c.job, c.pool]) assert.equal(node.resource["service.name"], "dspy-subgraph", node.name);
        for (const python of [c.run, c.step, c.lm]) assert.equal(python.resource["service.name"], "dspy-subgraph-worker", python.name);

        // The chain, parent by parent.
        assert.equal(c.graphql.parentSpanId, "", "the GraphQL span is the root (no caller's traceparent)");
        assert.equal(c.publish.parentSpanId, c.graphql.spanId);
        assert.equal(c.job.parentSpanId, c.graphql.spanId, "the job continues the request's trace (traceparent on the execution row)");
        assert.equal(c.pool.parentSpanId, c.job.spanId);
        assert.equal(c.run.parentSpanId, c.pool.spanId, "the worker continues the traceparent of the run request");
        assert.equal(c.step.parentSpanId, c.run.spanId);
        assert.equal(c.lm.parentSpanId, c.step.spanId);

        assert.deepEqual([c.graphql.kind, c.publish.kind, c.job.kind, c.pool.kind, c.run.kind, c.lm.kind], [SERVER, PRODUCER, CONSUMER, CLIENT, SERVER, CLIENT]);
        assert.equal(c.graphql.attributes["graphql.operation.type"], "mutation");
        assert.equal(c.graphql.attributes["graphql.operation.name"], "ExecuteProgram");
        assert.equal(c.job.attributes["dspy.execution.id"], execution.id);
        assert.equal(c.job.attributes["dspy.execution.attempt"], 1);
        assert.equal(c.pool.attributes["dspy.worker.id"], c.run.attributes["dspy.worker.id"]);
        assert.equal(c.step.attributes["dspy.module.type"], "Predict");
        assert.equal(c.step.attributes["dspy.step"], "a");
        assert.equal(c.lm.attributes["gen_ai.operation.name"], "chat");
        assert.equal(c.lm.attributes["gen_ai.system"], "dummy");
        assert.equal(c.lm.attributes["gen_ai.request.model"], "dummy");
        // DummyLM reports no tokens; the attributes are there all the same.
        assert.equal(c.lm.attributes["gen_ai.usage.input_tokens"], 0);
        assert.equal(c.lm.attributes["gen_ai.usage.output_tokens"], 0);
        for (const span of c.mine) assert.notEqual(span.statusCode, 2, `${span.name} failed`);

        // The execution read back later carries the same trace id.
        const again = expectData(await graphql(server().url, `query($id: ID!) { execution(id: $id) { traceId } }`, { id: execution.id })).execution;
        assert.equal(again.traceId, execution.traceId);
      });

      it("continues a caller's W3C traceparent (a gateway's) into the execution's trace", async () => {
        const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        const parentId = "00f067aa0ba902b7";
        const execution = expectData(await graphql(server().url, EXECUTE, { p: programId, i: { question: "France again?", n: 2 } }, { traceparent: `00-${traceId}-${parentId}-01` })).executeProgram;
        assert.equal(execution.status, "COMPLETED");
        assert.equal(execution.traceId, traceId);
        const c = chainOf(await receiver.waitFor(complete(traceId)), traceId);
        assert.equal(c.graphql.parentSpanId, parentId);
        assert.equal(c.lm.parentSpanId, c.step.spanId);
      });
    },
    env,
  );

  // The native adapter (DSPY_ADAPTER=auto, an OpenAI-compatible LM) makes the worker's spans itself, in the server's service.
  const nativeEnv: Record<string, string> = { DSPY_ADAPTER: "auto", WORKERS: "1", JOB_POLL_MS: "200" };
  before(() => {
    nativeEnv.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  });
  describeEachDatabase(
    "one trace per native execution",
    (server) => {
      let lm: Awaited<ReturnType<typeof startFakeOpenAI>>;
      before(async () => {
        lm = await startFakeOpenAI(() => ({ fields: { answer: "Paris" } }));
      });
      after(() => lm?.close());

      it("links GraphQL → job → dspy.run → module step → LM call, with the worker's names and GenAI attributes", async () => {
        const { programId } = await createProgram(server().url, "traced-native", { model: "openai/traced", apiBase: lm.url, cache: false, temperature: 0.2 });
        const execution = expectData(await graphql(server().url, EXECUTE, { p: programId, i: { question: "Capital of France?", n: 1 } })).executeProgram;
        assert.equal(execution.status, "COMPLETED");
        const names = ["mutation ExecuteProgram", "execute-program process", "dspy.run", "dspy.module a", "chat openai/traced"];
        const spans = (await receiver.waitFor((all) => names.every((name) => all.some((s) => s.traceId === execution.traceId && s.name === name)))).filter((s) => s.traceId === execution.traceId);
        const only = (name: string) => spans.find((s) => s.name === name)!;
        const [job, run, step, call] = [only("execute-program process"), only("dspy.run"), only("dspy.module a"), only("chat openai/traced")];
        assert.deepEqual([run.parentSpanId, step.parentSpanId, call.parentSpanId], [job.spanId, run.spanId, step.spanId]);
        assert.ok(!spans.some((s) => s.name === "worker-pool run"), "no worker involved");
        assert.deepEqual([run.resource["service.name"], run.attributes["dspy.adapter"], step.attributes["dspy.module.type"]], ["dspy-subgraph", "native", "Predict"]);
        assert.equal(call.kind, CLIENT);
        assert.deepEqual(
          [call.attributes["gen_ai.system"], call.attributes["gen_ai.request.model"], call.attributes["gen_ai.request.temperature"], call.attributes["gen_ai.usage.input_tokens"], call.attributes["gen_ai.usage.output_tokens"]],
          ["openai", "openai/traced", 0.2, 10, 5],
        );
      });
    },
    nativeEnv,
  );

  describeEachDatabase(
    "tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT)",
    (server) => {
      it("stores no trace id and the execution runs as before", async () => {
        const { programId } = await createProgram(server().url, "untraced", dummyLm({ France: { answer: "Paris" } }));
        const execution = expectData(await graphql(server().url, EXECUTE, { p: programId, i: { question: "Capital of France?", n: 1 } })).executeProgram;
        assert.equal(execution.status, "COMPLETED");
        assert.equal(execution.traceId, null);
      });
    },
    { JOB_POLL_MS: "200" },
  );

  it("reads W3C traceparents strictly (a malformed one starts no trace)", () => {
    assert.equal(traceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert.equal(traceIdOf("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), null);
    for (const bad of [null, undefined, "", "garbage", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"]) {
      assert.equal(trace.getSpanContext(contextFromTraceparent(bad)), undefined, String(bad));
    }
  });
});
