import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Execution, ExecutionStatus } from "../entities/index.js";
import { ExecutionStateMachine } from "../src/executions/ExecutionStateMachine.js";
import { createInProcessEventBus } from "../src/pubsub.js";
import { expectData, expectError, graphql } from "./support/graphql.js";
import { startFakeOpenAI, type ScriptedReply } from "./support/fakeOpenAI.js";
import { createProgram, describeEachStack, EXECUTION_FIELDS, jobsDrained, pollExecution } from "./support/stacks.js";

const EXECUTE = `mutation($input: ExecuteProgramInput!) { executeProgram(input: $input) { ${EXECUTION_FIELDS} } }`;
const CANCEL = `mutation($id: ID!) { cancelExecution(id: $id) { ${EXECUTION_FIELDS} } }`;
const RETRY = `mutation($id: ID!) { retryExecution(id: $id) { ${EXECUTION_FIELDS} } }`;

/**
 * The LM is a scripted OpenAI-compatible server reached by real DSPy in a real worker; the question
 * says how it behaves: `slow` answers after a while, `status-429` / `status-400` fail, `flaky`
 * fails with 429 while `flaky.failing` is set.
 */
const flaky = { failing: true };
function script({ prompt }: { prompt: string }): ScriptedReply {
  if (prompt.includes("`verdict`")) return { fields: { verdict: "fine" } }; // the second step of twoStepDefinition
  const answer = { fields: { answer: "ok" } };
  if (prompt.includes("slow")) return { ...answer, delayMs: 1_500 };
  const status = /status-(\d{3})/.exec(prompt);
  if (status) return { status: Number(status[1]) };
  if (prompt.includes("flaky") && flaky.failing) return { status: 429 };
  return answer;
}

/** Two LM calls in a row: an answer, then a verdict on it. */
function twoStepDefinition(): Record<string, unknown> {
  return {
    inputs: { question: { type: "str" } },
    modules: {
      answerer: { type: "Predict", signature: { inputs: { question: { type: "str" } }, outputs: { answer: { type: "str" } } } },
      checker: { type: "Predict", signature: { inputs: { answer: { type: "str" } }, outputs: { verdict: { type: "str" } } } },
    },
    forward: [
      { call: "answerer", with: { question: "$input.question" }, as: "a" },
      { call: "checker", with: { answer: "$a.answer" }, as: "c" },
      { return: { answer: "$a.answer", verdict: "$c.verdict" } },
    ],
  };
}

/** The newest modification time of any file under `dir` (0 when it has none). */
function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

const statuses = (execution: any) => execution.events.map((e: any) => e.to);
const terminal = (e: any) => ["COMPLETED", "FAILED", "CANCELLED"].includes(e.status);

describeEachStack(
  "execution failures, retries and cancellation",
  // One job at a time, so a second execution stays PENDING behind a slow one.
  { DSPY_ADAPTER: "python", WORKERS: "1", EXECUTION_MAX_ATTEMPTS: "2", JOB_CONCURRENCY: "1", EXECUTION_CANCEL_POLL_MS: "200" },
  (server) => {
    const run = (query: string, variables: Record<string, unknown> = {}) => graphql(server().url, query, variables);
    const execute = async (question: string, extra: Record<string, unknown> = {}) =>
      expectData(await run(EXECUTE, { input: { programId: program.programId, inputs: { question, n: 0 }, ...extra } })).executeProgram;
    let lm: Awaited<ReturnType<typeof startFakeOpenAI>>;
    let program: { programId: string };

    before(async () => {
      lm = await startFakeOpenAI(script);
      // No cache: DSPy keeps answers on disk across processes, and every attempt here must reach the LM.
      program = await createProgram(server().url, "scripted", { model: "openai/scripted", apiBase: lm.url, cache: false });
    });
    after(async () => {
      await lm?.close();
    });

    it("an LM error that retrying cannot fix → FAILED after one attempt, with layer lm", async () => {
      const done = await execute("please status-400", { wait: true });
      assert.equal(done.status, "FAILED");
      assert.equal(done.error.layer, "lm");
      assert.equal(done.error.retriable, false);
      assert.equal(done.attempt, 1);
      assert.deepEqual(statuses(done), ["PENDING", "RUNNING", "FAILED"]);
      assert.equal(done.outputs, null);
    });

    it("a retriable LM error is retried up to the attempt limit, then FAILED; retryExecution runs it again", async () => {
      flaky.failing = true;
      const failed = await execute("flaky question", { wait: true });
      assert.equal(failed.status, "FAILED");
      assert.deepEqual(failed.error, { code: "LM_RATE_LIMITED", layer: "lm", message: failed.error.message, retriable: true });
      assert.equal(failed.attempt, 2);
      assert.deepEqual(statuses(failed), ["PENDING", "RUNNING", "PENDING", "RUNNING", "FAILED"]);
      assert.match(failed.events[2].reason, /attempt 1 failed \(LM_RATE_LIMITED/);

      flaky.failing = false;
      const retried = expectData(await run(RETRY, { id: failed.id })).retryExecution;
      assert.equal(retried.status, "PENDING");
      assert.equal(retried.maxAttempts, 4);
      const done = await pollExecution(server().url, failed.id, terminal);
      assert.equal(done.status, "COMPLETED");
      assert.equal(done.attempt, 3);
      assert.equal(done.error, null);
      assert.deepEqual(statuses(done).slice(5), ["PENDING", "RUNNING", "COMPLETED"]);
    });

    it("a worker killed mid-execution → retried on its replacement and COMPLETED exactly once", async () => {
      const queued = await execute("slow one to kill");
      await pollExecution(server().url, queued.id, (e) => e.status === "RUNNING");
      await new Promise((resolve) => setTimeout(resolve, 300)); // the request is on the worker now
      const health = await server().adapter.health();
      const workers = health.details.workers as { pid?: number; busy: number }[];
      const busy = workers.find((w) => w.busy > 0 && w.pid);
      assert.ok(busy?.pid, `a busy local worker: ${JSON.stringify(workers)}`);
      process.kill(busy.pid, "SIGKILL");
      const done = await pollExecution(server().url, queued.id, terminal, 60_000);
      assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
      assert.deepEqual(done.outputs, { answer: "ok" });
      assert.equal(done.attempt, 2);
      assert.deepEqual(statuses(done), ["PENDING", "RUNNING", "PENDING", "RUNNING", "COMPLETED"]);
      assert.match(done.events[2].reason, /attempt 1 failed \(WORKER_DIED/);
      assert.equal(statuses(done).filter((s: string) => s === "COMPLETED").length, 1);
    });

    it("cancels a PENDING execution (it never runs) and a RUNNING one (its result is discarded)", async () => {
      const running = await execute("slow one to cancel");
      const pending = await execute("slow one that waits its turn");
      await pollExecution(server().url, running.id, (e) => e.status === "RUNNING");
      assert.equal(expectData(await run(`query($id: ID!) { execution(id: $id) { status } }`, { id: pending.id })).execution.status, "PENDING");

      const cancelledPending = expectData(await run(CANCEL, { id: pending.id })).cancelExecution;
      assert.equal(cancelledPending.status, "CANCELLED");
      assert.deepEqual(statuses(cancelledPending), ["PENDING", "CANCELLED"]);
      const cancelledRunning = expectData(await run(CANCEL, { id: running.id })).cancelExecution;
      assert.equal(cancelledRunning.status, "CANCELLED");

      // Let the LM answer the running attempt and the queue move on: neither comes back.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const after = await pollExecution(server().url, running.id, terminal);
      assert.equal(after.status, "CANCELLED");
      assert.equal(after.outputs, null);
      assert.deepEqual(statuses(after), ["PENDING", "RUNNING", "CANCELLED"]);
      const stillPending = await pollExecution(server().url, pending.id, terminal);
      assert.deepEqual(statuses(stillPending), ["PENDING", "CANCELLED"]);
      assert.equal(stillPending.attempt, 0, "never started");
    });

    it("a waited-for execution, started at once: a wait that runs out returns it RUNNING; one cancelled while waited for answers CANCELLED; no job is left", async () => {
      const short = await execute("slow, with a short wait", { wait: true, waitTimeoutMs: 300 });
      assert.equal(short.status, "RUNNING");
      assert.deepEqual(statuses(short), ["PENDING", "RUNNING"]);
      assert.equal((await pollExecution(server().url, short.id, terminal)).status, "COMPLETED");

      const waited = execute("slow, cancelled while waited for", { wait: true });
      let id: string | undefined;
      for (const until = Date.now() + 10_000; !id && Date.now() < until; ) {
        const page = expectData(await run(`query($p: ID!) { executions(programId: $p, status: RUNNING, first: 5) { edges { node { id inputs } } } }`, { p: program.programId })).executions;
        id = page.edges.find((edge: any) => edge.node.inputs.question === "slow, cancelled while waited for")?.node.id;
      }
      assert.ok(id, "the waited-for execution is RUNNING");
      assert.equal(expectData(await run(CANCEL, { id })).cancelExecution.status, "CANCELLED");
      const answered = await waited;
      assert.equal(answered.id, id);
      assert.equal(answered.status, "CANCELLED", "the waiting caller learns of the cancel");
      assert.deepEqual(statuses(answered), ["PENDING", "RUNNING", "CANCELLED"]);
      // The job this instance held for each is gone with its run.
      await jobsDrained(server(), "execute-program");
      assert.equal(await server().jobs.countJobs("execute-program"), 0);
    });

    it("cancelling a RUNNING execution stops its worker before the next LM call", async () => {
      const twoStep = await createProgram(server().url, "two-step", { model: "openai/scripted", apiBase: lm.url, cache: false }, twoStepDefinition());
      const executeTwoStep = async (question: string, extra: Record<string, unknown> = {}) =>
        expectData(await run(EXECUTE, { input: { programId: twoStep.programId, inputs: { question }, ...extra } })).executeProgram;
      // Control: not cancelled, both steps call the LM.
      let before = lm.requests;
      const done = await executeTwoStep("quick two-step", { wait: true });
      assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
      assert.deepEqual(done.outputs, { answer: "ok", verdict: "fine" });
      assert.equal(lm.requests - before, 2);

      before = lm.requests;
      const running = await executeTwoStep("slow two-step");
      const deadline = Date.now() + 20_000;
      while (lm.requests === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(lm.requests - before, 1, "the first step's (slow) LM call has started");
      const cancelled = expectData(await run(CANCEL, { id: running.id })).cancelExecution;
      assert.equal(cancelled.status, "CANCELLED");
      // The first call answers after 1.5 s; the second step's call is never made.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      assert.equal(lm.requests - before, 1);
      const after = await pollExecution(server().url, running.id, terminal);
      assert.deepEqual(statuses(after), ["PENDING", "RUNNING", "CANCELLED"]);
      assert.equal(after.outputs, null);
    });

    it("a cancel made on another instance reaches the running attempt through the database", async () => {
      const twoStep = await createProgram(server().url, "two-step-elsewhere", { model: "openai/scripted", apiBase: lm.url, cache: false }, twoStepDefinition());
      const before = lm.requests;
      const running = expectData(await run(EXECUTE, { input: { programId: twoStep.programId, inputs: { question: "slow, cancelled elsewhere" } } })).executeProgram;
      const deadline = Date.now() + 20_000;
      while (lm.requests === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      // Another instance: the same database, a bus of its own (this instance hears nothing of it).
      const elsewhere = new ExecutionStateMachine(server().database, createInProcessEventBus());
      const current = await server().database.manager.findOneByOrFail(Execution, { id: running.id });
      assert.equal(current.status, "RUNNING");
      assert.ok(await elsewhere.transition({ from: current, to: ExecutionStatus.CANCELLED, reason: "cancelled elsewhere", changes: { finishedAt: new Date() } }));
      // The first call answers after 1.5 s; by then the attempt has read CANCELLED, so no second call.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      assert.equal(lm.requests - before, 1);
      const after = await pollExecution(server().url, running.id, terminal);
      assert.deepEqual(statuses(after), ["PENDING", "RUNNING", "CANCELLED"]);
    });

    it("keeps DSPy's disk cache of LM answers in DATA_DIR/dspy-cache", async () => {
      const cacheDir = path.resolve(".test-data", "dspy-cache"); // the test servers' DATA_DIR (test/support/harness.ts)
      const cached = await createProgram(server().url, "cached", { model: "openai/scripted", apiBase: lm.url, cache: true });
      const inputs = { question: `cache me ${randomUUID()}`, n: 0 };
      // DSPy opens its disk cache when an LM call first reads it: the directory may not exist yet.
      const before = { requests: lm.requests, mtime: fs.existsSync(cacheDir) ? newestMtimeMs(cacheDir) : 0 };
      await new Promise((resolve) => setTimeout(resolve, 20)); // so that a write has a later mtime
      for (let i = 0; i < 2; i++) {
        const done = expectData(await run(EXECUTE, { input: { programId: cached.programId, inputs, wait: true } })).executeProgram;
        assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
      }
      assert.equal(lm.requests - before.requests, 1, "the second execution is answered from DSPy's cache");
      assert.ok(fs.existsSync(cacheDir) && newestMtimeMs(cacheDir) > before.mtime, "the answer was written to the cache in DATA_DIR");
    });

    it("of racing transitions exactly one wins: five concurrent cancels, one CANCELLED event", async () => {
      const queued = await execute("slow race");
      const results = await Promise.all(Array.from({ length: 5 }, () => run(CANCEL, { id: queued.id })));
      const won = results.filter((r) => !r.errors);
      assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.errors?.[0]?.extensions?.code ?? "ok")));
      for (const lost of results.filter((r) => r.errors)) expectError(lost, "ILLEGAL_TRANSITION", "id");
      const after = await pollExecution(server().url, queued.id, terminal);
      assert.equal(statuses(after).filter((s: string) => s === "CANCELLED").length, 1);
    });

    it("rejects illegal transitions with ILLEGAL_TRANSITION and changes nothing", async () => {
      const done = await execute("quick", { wait: true });
      assert.equal(done.status, "COMPLETED");
      expectError(await run(CANCEL, { id: done.id }), "ILLEGAL_TRANSITION", "id");
      expectError(await run(RETRY, { id: done.id }), "ILLEGAL_TRANSITION", "id");
      const after = expectData(await run(`query($id: ID!) { execution(id: $id) { status events { seq } } }`, { id: done.id })).execution;
      assert.equal(after.status, "COMPLETED");
      assert.equal(after.events.length, 3);
      expectError(await run(CANCEL, { id: "00000000-0000-7000-8000-000000000000" }), "NOT_FOUND", "id");
      expectError(await run(RETRY, { id: "nope" }), "NOT_FOUND", "id");
    });
  },
);
