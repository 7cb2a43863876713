import assert from "node:assert/strict";
import { LmRateLimiter } from "../src/limits/LmRateLimiter.js";
import { connectRedis } from "../src/redis.js";
import { expectData, expectError, graphql } from "./support/graphql.js";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { startRedis } from "./support/redis.js";
import { createProgram, describeEachStack } from "./support/stacks.js";

const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { id status attempt error { code layer retriable message } } }`;

describe("LmRateLimiter: requests and tokens per minute per language model", function () {
  this.timeout(30_000);
  const lm = (overrides: Record<string, number | null>) => ({ id: `lm-${Math.random()}`, name: "limited", requestsPerMinute: null, tokensPerMinute: null, ...overrides });

  it("lets a minute's worth of requests through, then waits for the next one while the deadline allows, else LM_RATE_LIMITED", async () => {
    const limiter = new LmRateLimiter();
    const fast = lm({ requestsPerMinute: 600 }); // 10 per second once the first 600 are used
    for (let i = 0; i < 600; i++) await limiter.acquire(fast, Date.now() + 1_000);
    const started = Date.now();
    await limiter.acquire(fast, Date.now() + 1_000);
    const waited = Date.now() - started;
    assert.ok(waited >= 80 && waited < 400, `waited ${waited} ms for the 601st`);
    const slow = lm({ requestsPerMinute: 1 });
    await limiter.acquire(slow, Date.now() + 100);
    await assert.rejects(limiter.acquire(slow, Date.now() + 100), (error: any) => error.code === "LM_RATE_LIMITED" && error.retriable === true && /allows 1 requests per minute/.test(error.message));
  });

  it("counts tokens once answered: later calls wait until they are paid back", async () => {
    const limiter = new LmRateLimiter();
    const model = lm({ tokensPerMinute: 6_000 }); // 100 tokens a second
    await limiter.acquire(model, Date.now() + 1_000);
    limiter.spend(model, 6_000 + 20); // 20 tokens in debt: 200 ms to pay back
    const started = Date.now();
    await limiter.acquire(model, Date.now() + 2_000);
    const waited = Date.now() - started;
    assert.ok(waited >= 150 && waited < 600, `waited ${waited} ms`);
    limiter.spend(model, 60_000);
    await assert.rejects(limiter.acquire(model, Date.now() + 500), (error: any) => error.code === "LM_RATE_LIMITED" && /6000 tokens per minute/.test(error.message));
  });

  it("shares the buckets across instances through Redis", async () => {
    const redis = await startRedis();
    const [a, b] = await Promise.all([connectRedis(redis.url), connectRedis(redis.url)]);
    try {
      const [one, two] = [new LmRateLimiter(a), new LmRateLimiter(b)];
      const model = lm({ requestsPerMinute: 2 });
      await one.acquire(model, Date.now() + 100);
      await two.acquire(model, Date.now() + 100);
      await assert.rejects(one.acquire(model, Date.now() + 100), (error: any) => error.code === "LM_RATE_LIMITED");
      await assert.rejects(two.acquire(model, Date.now() + 100), (error: any) => error.code === "LM_RATE_LIMITED");
      const tokens = lm({ tokensPerMinute: 600 });
      two.spend(tokens, 700);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await assert.rejects(one.acquire(tokens, Date.now() + 100), (error: any) => error.code === "LM_RATE_LIMITED", "the other instance's tokens count here");
    } finally {
      await Promise.all([a.close(), b.close()]);
      await redis.stop();
    }
  });
});

describeEachStack("per-LM limits through GraphQL (native adapter)", { DSPY_ADAPTER: "auto", EXECUTE_RATE_LIMIT: "off", EXECUTION_DEADLINE_MS: "1500", EXECUTION_MAX_ATTEMPTS: "2", EXECUTION_RETRY_BACKOFF_MS: "50" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  let lm: Awaited<ReturnType<typeof startFakeOpenAI>>;
  before(async () => {
    lm = await startFakeOpenAI(() => ({ fields: { answer: "Paris" } }));
  });
  after(async () => {
    await lm?.close();
  });

  it("a call past the model's requests per minute waits while the deadline allows, then fails with LM_RATE_LIMITED without reaching the LM", async () => {
    const { programId } = await createProgram(server().url, "limited", { model: "openai/limited", apiBase: lm.url, cache: false, requestsPerMinute: 1 });
    const first = expectData(await run(EXECUTE, { input: { programId, inputs: { question: "q1", n: 1 }, wait: true } })).executeProgram;
    assert.equal(first.status, "COMPLETED");
    const calls = lm.requests;
    const second = expectData(await run(EXECUTE, { input: { programId, inputs: { question: "q2", n: 1 }, wait: true } })).executeProgram;
    assert.deepEqual([second.status, second.error.code, second.error.layer, second.error.retriable, second.attempt], ["FAILED", "LM_RATE_LIMITED", "lm", true, 2]);
    assert.match(second.error.message, /language model 'limited-lm' allows 1 requests per minute/);
    assert.equal(lm.requests, calls, "the LM was not called");
  });

  it("refuses bad limits with a path and a reason", async () => {
    const before = await server().countRows("language_model");
    const base = { name: "bad-limits", model: "openai/x", apiBase: lm.url };
    expectError(await run(`mutation($input: CreateLanguageModelInput!) { createLanguageModel(input: $input) { id } }`, { input: { ...base, requestsPerMinute: 0 } }), "BAD_USER_INPUT", "input.requestsPerMinute");
    expectError(await run(`mutation($input: CreateLanguageModelInput!) { createLanguageModel(input: $input) { id } }`, { input: { ...base, tokensPerMinute: -5 } }), "BAD_USER_INPUT", "input.tokensPerMinute");
    assert.equal(await server().countRows("language_model"), before);
  });
});

describeEachStack("per-LM limits through GraphQL (DSPy in the workers: each call granted by the server)", { DSPY_ADAPTER: "python", WORKERS: "1", EXECUTE_RATE_LIMIT: "off", EXECUTION_DEADLINE_MS: "3000", EXECUTION_MAX_ATTEMPTS: "1" }, (server) => {
  const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
  let lm: Awaited<ReturnType<typeof startFakeOpenAI>>;
  before(async () => {
    lm = await startFakeOpenAI(() => ({ fields: { answer: "Paris" } }));
  });
  after(async () => {
    await lm?.close();
  });

  it("the worker asks before each call of a limited model: past its requests per minute the run fails with LM_RATE_LIMITED, the LM not called", async () => {
    const { programId } = await createProgram(server().url, "limited-py", { model: "openai/limited-py", apiBase: lm.url, cache: false, requestsPerMinute: 1 });
    const first = expectData(await run(EXECUTE, { input: { programId, inputs: { question: "q1", n: 1 }, wait: true } })).executeProgram;
    assert.equal(first.status, "COMPLETED", JSON.stringify(first.error));
    const calls = lm.requests;
    const second = expectData(await run(EXECUTE, { input: { programId, inputs: { question: "q2", n: 1 }, wait: true } })).executeProgram;
    assert.deepEqual([second.status, second.error?.code, second.error?.layer, second.error?.retriable], ["FAILED", "LM_RATE_LIMITED", "lm", true]);
    assert.match(second.error.message, /language model 'limited-py-lm' allows 1 requests per minute/);
    assert.equal(lm.requests, calls, "the LM was not called");
  });

  it("counts the tokens a worker's calls used: past the model's tokens per minute the next call is refused", async () => {
    // 15 tokens a call (the fake LM's usage) against 20 a minute: the first call fits, the second drives the bucket below zero, the third waits past the deadline.
    const { programId } = await createProgram(server().url, "token-limited-py", { model: "openai/token-limited-py", apiBase: lm.url, cache: false, tokensPerMinute: 20 });
    for (const q of ["t1", "t2"]) assert.equal(expectData(await run(EXECUTE, { input: { programId, inputs: { question: q, n: 1 }, wait: true } })).executeProgram.status, "COMPLETED");
    const third = expectData(await run(EXECUTE, { input: { programId, inputs: { question: "t3", n: 1 }, wait: true } })).executeProgram;
    assert.deepEqual([third.status, third.error?.code], ["FAILED", "LM_RATE_LIMITED"]);
  });
});
