import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ExecuteRequest, LanguageModelSpec } from "../src/adapters/DspyAdapter.js";
import { ZmqPythonAdapter } from "../src/adapters/ZmqPythonAdapter.js";
import { AppError } from "../src/errors.js";
import { DEFAULT_POLICIES } from "../src/languageModels/policies.js";
import { NativeAdapter } from "../src/native/NativeAdapter.js";
import { normalizeDefinition } from "../src/programs/programOf.js";
import { BRIDGE_DIR, BRIDGE_PYTHON } from "../src/workers/bridgePaths.js";
import { WorkerPool } from "../src/workers/WorkerPool.js";
import { describeAdapterConformance } from "./adapters/conformance.js";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { TEST_POLICIES } from "./support/harness.js";

const qa = (type = "Predict") => ({
  inputs: { question: { type: "str" } },
  modules: { answerer: { type, signature: "question -> answer" } },
  forward: [{ call: "answerer", with: { question: "$input.question" }, as: "a" }, { return: { answer: "$a.answer" } }],
});

let versions = 0;
const version = (definition: unknown, compiledState: unknown = null) => ({ versionId: `00000000-0000-7000-9000-${String(++versions).padStart(12, "0")}`, program: normalizeDefinition(definition), compiledState });

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AppError, String(error));
    return error;
  }
  assert.fail("expected an error");
}

describe("native adapter", function () {
  this.timeout(120_000);
  let pool: WorkerPool;
  let python: ZmqPythonAdapter;
  let auto: NativeAdapter;
  let native: NativeAdapter;
  before(async () => {
    pool = new WorkerPool({ workers: 1, concurrency: 4, python: BRIDGE_PYTHON, bridgeDir: BRIDGE_DIR });
    await pool.start();
    python = new ZmqPythonAdapter(pool, undefined, TEST_POLICIES);
    auto = new NativeAdapter(python, "auto", undefined, TEST_POLICIES);
    native = new NativeAdapter(python, "native", undefined, TEST_POLICIES);
  });
  after(async () => {
    await python?.close();
  });

  // The shared adapter bar (dummy-model runs natively, the rest through the workers).
  describeAdapterConformance("native (DSPY_ADAPTER=native)", () => native);

  describe("routing (DSPY_ADAPTER=auto)", () => {
    let server: Awaited<ReturnType<typeof startFakeOpenAI>>;
    before(async () => {
      server = await startFakeOpenAI(() => ({ fields: { answer: "Paris" } }));
    });
    after(() => server.close());
    const lm = (model: string, config: Record<string, unknown> | null = null): LanguageModelSpec => ({ id: model, model, apiBase: server.url, temperature: null, maxTokens: null, cache: false, secretEnv: null, config });
    const run = (adapter: NativeAdapter, request: Partial<ExecuteRequest> & Pick<ExecuteRequest, "lm">) => adapter.execute({ program: version(qa()), inputs: { question: "Capital of France?" }, deadlineMs: 30_000, ...request });

    it("runs Predict and ChainOfThought on an OpenAI-compatible model natively, and says so", async () => {
      const predicted = await run(auto, { lm: lm("openai/local-model") });
      assert.deepEqual([predicted.outputs, predicted.adapter], [{ answer: "Paris" }, "native"]);
      assert.equal(predicted.trace[0]!.lm_calls[0]!.model, "openai/local-model");
      assert.deepEqual(predicted.usage, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, lm_calls: 1 });
    });

    it("leaves to DSPy what it does not run: other modules, other providers, a JSON adapter, the dummy model", async () => {
      const react = {
        inputs: { question: { type: "str" } },
        modules: { m: { type: "MultiChainComparison", signature: "question -> answer", config: { M: 1 } } },
        forward: [{ call: "m", with: { question: "$input.question" }, as: "a" }, { return: { answer: "$a.answer" } }],
      };
      assert.match((auto.refusal({ program: version(react), lm: lm("openai/x"), inputs: {} })) ?? "", /module 'm' is a MultiChainComparison/);
      assert.match((auto.refusal({ program: version(qa()), lm: lm("anthropic/claude"), inputs: {} })) ?? "", /not an OpenAI-compatible model/);
      assert.match((auto.refusal({ program: version(qa()), lm: lm("openai/x", { adapter: "json" }), inputs: {} })) ?? "", /json adapter/);
      assert.equal(auto.refusal({ program: version(qa()), lm: lm("openai/x", { adapter: "chat" }), inputs: {} }), null);
      for (const model of ["openai/o3-mini", "openai/gpt-5", "openai/gpt-5.1-mini"]) assert.match(auto.refusal({ program: version(qa()), lm: lm(model), inputs: {} }) ?? "", /reasoning model/, model);
      assert.equal(auto.refusal({ program: version(qa()), lm: lm("openai/gpt-5-chat-latest"), inputs: {} }), null);
      const dummy: LanguageModelSpec = { ...lm("dummy", { answers: [{ answer: "Rome" }] }), apiBase: null };
      assert.match((auto.refusal({ program: version(qa()), lm: dummy, inputs: {} })) ?? "", /dummy model runs on DSPy/);
      assert.equal(native.refusal({ program: version(qa()), lm: dummy, inputs: {} }), null);
      const ranByPython = await run(auto, { lm: dummy });
      assert.deepEqual([ranByPython.outputs, ranByPython.adapter], [{ answer: "Rome" }, "python"]);
    });
  });

  describe("LM failures, retries, cancel, deadline, cache and keys", () => {
    const lm = (url: string, overrides: Partial<LanguageModelSpec> = {}): LanguageModelSpec => ({ id: "lm", model: "openai/m", apiBase: url, temperature: null, maxTokens: null, cache: false, secretEnv: null, config: null, ...overrides });
    const run = (spec: LanguageModelSpec, extra: Partial<ExecuteRequest> = {}) => native.execute({ program: version(qa()), lm: spec, inputs: { question: "q" }, deadlineMs: 30_000, ...extra });

    it("classifies HTTP failures with the worker's codes: 429, 5xx, 408 retriable; 401 not", async () => {
      for (const [status, code, retriable] of [[429, "LM_RATE_LIMITED", true], [503, "LM_UNAVAILABLE", true], [408, "LM_TIMEOUT", true], [401, "LM_ERROR", false]] as const) {
        const server = await startFakeOpenAI(() => ({ status }));
        try {
          const error = await failure(run(lm(server.url)));
          assert.deepEqual([error.code, error.layer, error.retriable, error.details?.adapter], [code, "lm", retriable, "native"], `${status}: ${error.message}`);
          assert.equal(server.requests, 1, "no retry without num_retries");
          assert.ok(Array.isArray(error.details?.trace), "the trace so far goes with the error");
        } finally {
          await server.close();
        }
      }
    });

    it("retries transient failures num_retries times", async () => {
      let calls = 0;
      const server = await startFakeOpenAI(() => (++calls <= 2 ? { status: 503 } : { fields: { answer: "third time" } }));
      try {
        const result = await run(lm(server.url, { config: { num_retries: 2 } }));
        assert.deepEqual([result.outputs.answer, server.requests], ["third time", 3]);
      } finally {
        await server.close();
      }
    });

    it("an unreachable endpoint is LM_UNAVAILABLE, and a loopback one the policy refuses is LM_EGRESS_REFUSED, before any connection", async () => {
      const down = await failure(run(lm("http://127.0.0.1:9/v1")));
      assert.deepEqual([down.code, down.retriable], ["LM_UNAVAILABLE", true]);
      const server = await startFakeOpenAI(() => ({ fields: { answer: "x" } }));
      try {
        const strict = new NativeAdapter(python, "native", undefined, DEFAULT_POLICIES);
        for (const url of [server.url, server.url.replace("127.0.0.1", "localhost")]) {
          const refused = await failure(strict.execute({ program: version(qa()), lm: lm(url), inputs: { question: "q" } }));
          assert.deepEqual([refused.code, refused.layer, refused.retriable], ["LM_EGRESS_REFUSED", "lm", false], refused.message);
          assert.match(refused.message, /LM_EGRESS_ALLOW/);
        }
        assert.equal(server.requests, 0);
      } finally {
        await server.close();
      }
    });

    it("cancelling aborts the LM request in flight; a deadline ends the run with DEADLINE_EXCEEDED", async () => {
      let closed = 0;
      const server = http.createServer((req) => req.on("close", () => closed++));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
      try {
        const controller = new AbortController();
        const started = Date.now();
        setTimeout(() => controller.abort(), 200);
        const cancelled = await failure(run(lm(url), { signal: controller.signal }));
        assert.deepEqual([cancelled.code, cancelled.layer], ["CANCELLED", "worker"]);
        assert.ok(Date.now() - started < 2_000);
        const late = await failure(run(lm(url), { deadlineMs: 300 }));
        assert.deepEqual([late.code, late.retriable], ["DEADLINE_EXCEEDED", true]);
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(closed, 2, "both requests were aborted, not left open");
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it("answers an identical request from the cache when the LM's cache is on (no tokens), and never when it is off", async () => {
      const server = await startFakeOpenAI(() => ({ fields: { answer: "cached?" } }));
      try {
        const first = await run(lm(server.url, { cache: true }));
        const second = await run(lm(server.url, { cache: true }));
        assert.deepEqual([first.outputs, second.outputs, server.requests], [{ answer: "cached?" }, { answer: "cached?" }, 1]);
        assert.equal(second.usage.total_tokens, 0);
        await run(lm(server.url, { cache: false }));
        await run(lm(server.url, { cache: false }));
        assert.equal(server.requests, 3);
      } finally {
        await server.close();
      }
    });

    it("sends the key the language model's secret names, and never shows it", async () => {
      const server = await startFakeOpenAI(() => ({ status: 401, errorMessage: "bad key sk-native-secret-123" }));
      process.env.NATIVE_TEST_API_KEY = "sk-native-secret-123";
      try {
        const error = await failure(run(lm(server.url, { secretEnv: "NATIVE_TEST_API_KEY" })));
        assert.equal(server.authorizations[0], "Bearer sk-native-secret-123");
        assert.equal(error.code, "LM_ERROR");
        // The worker's replies are scrubbed; so is this adapter's error (the key came back in the body).
        assert.ok(!JSON.stringify({ message: error.message, details: error.details }).includes("sk-native-secret-123"), error.message);
      } finally {
        delete process.env.NATIVE_TEST_API_KEY;
        await server.close();
      }
    });

    it("refuses an answer body larger than 16 MB with LM_ERROR, without reading it whole", async () => {
      const huge = http.createServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        const chunk = "x".repeat(1024 * 1024);
        let sent = 0;
        const write = () => {
          while (sent < 64 && res.write(chunk)) sent++;
          if (sent < 64) res.once("drain", write);
          else res.end();
        };
        res.on("error", () => undefined);
        write();
      });
      await new Promise<void>((resolve) => huge.listen(0, "127.0.0.1", resolve));
      try {
        const error = await failure(run(lm(`http://127.0.0.1:${(huge.address() as AddressInfo).port}/v1`)));
        assert.deepEqual([error.code, error.layer, error.retriable], ["LM_ERROR", "lm", false]);
        assert.match(error.message, /larger than 16777216 bytes/);
      } finally {
        huge.closeAllConnections();
        await new Promise((resolve) => huge.close(resolve));
      }
    });

    it("counts every LM call, the JSON fallback's included, against max LM calls", async () => {
      const server = await startFakeOpenAI(() => ({ fields: { other: "no answer field" } }));
      try {
        const error = await failure(run(lm(server.url), { maxLmCalls: 1 }));
        assert.deepEqual([error.code, error.details?.limit, server.requests], ["LIMIT_EXCEEDED", "lm_calls", 1]);
      } finally {
        await server.close();
      }
    });
  });
});
