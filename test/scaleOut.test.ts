import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { collect, expectData, graphql, wsClient } from "./support/graphql.js";
import { ChaosCluster, chaosStacks } from "./support/chaos.js";
import { startRedis } from "./support/redis.js";
import { predictDefinition } from "./support/stacks.js";
import { ExecuteRateLimit } from "../src/limits/RateLimiter.js";
import { connectRedis } from "../src/redis.js";

const EVENTS = `subscription($p: ID!) { executionEvents(programId: $p) { id status lastEvent { seq from to reason } } }`;
const UPDATED = `subscription($id: ID!) { executionUpdated(id: $id) { id status } }`;
const wsOf = (url: string) => url.replace(/^http/, "ws");

/**
 * Several server processes on one set of stores and one Redis (REDIS_URL): the most complete stack
 * this machine has (MariaDB with jobs on FerretDB in CI). Jobs are polled once a minute here, so an
 * instance that runs a job another instance enqueued was woken by the Redis notification.
 */
const stack = chaosStacks().at(-1)!;

describe(`several instances on Redis [${stack.name}]`, function () {
  this.timeout(240_000);
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let cluster: ChaosCluster;
  /** While set, every LM call takes 3 s: long enough to cancel a run mid-call. */
  let slow = false;

  before(async function () {
    this.timeout(180_000);
    redis = await startRedis();
    cluster = new ChaosCluster(stack, () => (slow ? 3_000 : 20), { REDIS_URL: redis.url, JOB_POLL_MS: "60000", EXECUTION_RECONCILE_MS: "600000" });
    await cluster.start(2);
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") for (const instance of cluster.instances) console.log(instance.output().split("\n").filter((l) => !l.startsWith("!!")).slice(-40).join("\n"));
  });

  after(async function () {
    this.timeout(60_000);
    await cluster?.stop();
    await redis?.stop();
  });

  it("a subscriber on B sees every transition of every execution, in order, none missing; A and B share the load", async () => {
    const [a, b] = cluster.instances;
    const client = wsClient(wsOf(b!.url));
    const count = 24;
    try {
      const events = collect<any>(client, EVENTS, { p: cluster.programId }, count * 3, 60_000);
      await events.ready;
      const ids = await cluster.submit(a!, count, "fanout");
      const received = (await events.done).map((e) => e.executionEvents);
      const byId = new Map<string, any[]>();
      for (const e of received) byId.set(e.id, [...(byId.get(e.id) ?? []), e]);
      assert.deepEqual([...byId.keys()].sort(), [...ids].sort());
      const ranOn = new Map<string, number>();
      for (const [id, list] of byId) {
        assert.deepEqual(list.map((e) => [e.lastEvent.seq, e.lastEvent.to]), [[1, "PENDING"], [2, "RUNNING"], [3, "COMPLETED"]], id);
        const pid = /started on [^:]+:(\d+):/.exec(list[1].lastEvent.reason)?.[1];
        assert.ok(pid, list[1].lastEvent.reason);
        ranOn.set(pid, (ranOn.get(pid) ?? 0) + 1);
      }
      const pids = [a!.child.pid, b!.child.pid].map(String);
      assert.ok([...ranOn.keys()].every((pid) => pids.includes(pid)), `ran on ${[...ranOn.keys()]}, instances ${pids}`);
      assert.equal(ranOn.size, 2, `both instances ran executions (jobs enqueued on A woke B through Redis): ${JSON.stringify([...ranOn])}`);
      console.log(`      ${count} executions submitted on A: ${[...ranOn.values()].join(" + ")} run by the two instances; B's subscriber saw all ${received.length} transitions in order`);
    } finally {
      await client.dispose();
    }
  });

  it("a cancel on one instance reaches the instance running the execution at once", async () => {
    const [a, b] = cluster.instances;
    const lags: number[] = [];
    /** From the submission to RUNNING seen, per round: it waits for a job notification over Redis. */
    const starts: number[] = [];
    slow = true;
    for (let round = 0; round < 5; round++) {
      const [id] = await cluster.submit(a!, 1, `slowcancel-${round}`);
      // Whichever instance runs it, listen there and cancel through the other one.
      let runner = "";
      const submitted = performance.now();
      const seen: string[] = [];
      while (!runner && performance.now() - submitted < 20_000) {
        const execution = expectData(await graphql(a!.url, `query($id: ID!) { execution(id: $id) { status lastEvent { reason } } }`, { id })).execution;
        if (seen.at(-1) !== execution.status) seen.push(execution.status);
        if (execution.status === "RUNNING") runner = /started on [^:]+:(\d+):/.exec(execution.lastEvent.reason)?.[1] ?? "";
        else if (["COMPLETED", "FAILED", "CANCELLED"].includes(execution.status)) break;
        else await new Promise((resolve) => setTimeout(resolve, 5));
      }
      starts.push(performance.now() - submitted);
      assert.ok(runner, `round ${round}: the execution was never seen RUNNING in ${(performance.now() - submitted).toFixed(0)} ms (statuses seen: ${seen.join(" → ")})`);
      const [running, other] = String(a!.child.pid) === runner ? [a!, b!] : [b!, a!];
      const client = wsClient(wsOf(running.url));
      try {
        // The subscription answers the current state (RUNNING) first: then it is listening.
        let listening!: () => void;
        const ready = new Promise<void>((resolve) => (listening = resolve));
        const cancelledAt = new Promise<number>((resolve, reject) => {
          client.subscribe<any>({ query: UPDATED, variables: { id } }, {
            next: (result) => {
              const status = result.data?.executionUpdated?.status;
              if (status === "CANCELLED") resolve(performance.now());
              else listening();
            },
            error: reject,
            complete: () => undefined,
          });
        });
        await ready;
        const started = performance.now();
        const cancelled = expectData(await graphql(other.url, `mutation($id: ID!) { cancelExecution(id: $id) { status } }`, { id })).cancelExecution;
        assert.equal(cancelled.status, "CANCELLED");
        lags.push((await cancelledAt) - started);
      } finally {
        await client.dispose();
      }
    }
    slow = false;
    assert.ok(lags.length >= 1, "no execution could be cancelled while running");
    lags.sort((x, y) => x - y);
    console.log(`      cancel on one instance → CANCELLED seen on the running instance: ${lags.map((ms) => ms.toFixed(1)).join(", ")} ms (cancel mutation included); RUNNING seen ${starts.map((ms) => ms.toFixed(0)).join(", ")} ms after submission`);
    assert.ok(lags[0]! < 50, `the fastest cancel took ${lags[0]!.toFixed(1)} ms`);
  });

  it("a program changed on A runs its new version on B at once (B forgets its read of the program on the event)", async () => {
    const [a, b] = cluster.instances;
    const execute = async () =>
      expectData(await graphql(b!.url, `mutation($p: ID!) { executeProgram(input: { programId: $p, inputs: { question: "which version?", n: 1 }, wait: true }) { status programVersion { id } } }`, { p: cluster.programId })).executeProgram;
    const before = await execute();
    assert.equal(before.status, "COMPLETED");
    const definition = { ...predictDefinition(), modules: { answerer: { type: "Predict", signature: { instructions: "Answer in one word.", inputs: { question: { type: "str" } }, outputs: { answer: { type: "str" } } } } } };
    const updated = expectData(await graphql(a!.url, `mutation($input: UpdateProgramInput!) { updateProgram(input: $input) { currentVersion { id } } }`, { input: { id: cluster.programId, definition } })).updateProgram;
    const changedAt = Date.now();
    let ran = (await execute()).programVersion.id;
    while (ran !== updated.currentVersion.id && Date.now() - changedAt < 1_000) ran = (await execute()).programVersion.id;
    const lag = Date.now() - changedAt;
    assert.equal(ran, updated.currentVersion.id, "B still ran the old version 1 s after the change (its read is kept for 2 s without the event)");
    assert.notEqual(before.programVersion.id, ran);
    console.log(`      B ran the new version ${lag} ms after A's updateProgram returned`);
  });

  it("a subscriber on B follows the output of an execution running on A from mid-run: what was written (kept in Redis), then the rest", async () => {
    const [a, b] = cluster.instances;
    const [id] = await cluster.submit(a!, 1, "out-stream-1");
    const deadline = Date.now() + 30_000;
    let running = false;
    while (!running && Date.now() < deadline) {
      running = expectData(await graphql(b!.url, `query($id: ID!) { execution(id: $id) { status } }`, { id })).execution.status === "RUNNING";
      if (!running) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const client = wsClient(wsOf(b!.url));
    try {
      const OUTPUT = `subscription($id: ID!) { executionOutput(id: $id) { kind attempt seq step field text event status outputs } }`;
      const items: any[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out: ${JSON.stringify(items.slice(-2))}`)), 30_000);
        client.subscribe<any>({ query: OUTPUT, variables: { id } }, { next: (v) => (v.errors ? reject(new Error(JSON.stringify(v.errors))) : items.push(v.data.executionOutput)), error: reject, complete: () => (clearTimeout(timer), resolve()) });
      });
      const final = items[items.length - 1];
      assert.deepEqual([final.kind, final.status], ["FINAL", "COMPLETED"]);
      const output = items.filter((i) => i.kind === "DELTA" || i.kind === "STATUS");
      assert.deepEqual(output.map((i) => i.seq), output.map((_, n) => n + 1), "from the first event, without gaps");
      assert.equal(output[0].event, "module_start");
      const text = output.filter((i) => i.kind === "DELTA" && i.field === "answer").map((i) => i.text).join("");
      assert.equal(text, final.outputs.answer);
      assert.ok(output.filter((i) => i.kind === "DELTA").length > 3);
    } finally {
      await client.dispose();
    }
  });

  it("/readyz reports Redis with the other parts", async () => {
    const response = await fetch(cluster.instances[0]!.url.replace(/\/graphql$/, "/readyz"));
    const body = JSON.stringify(await response.json());
    assert.equal(response.status, 200, body);
    assert.match(body, /redis/);
    assert.match(body, /pingMs/);
  });

  it("shares rate limits: every instance takes from the same bucket", async () => {
    const instances = await Promise.all([connectRedis(redis.url), connectRedis(redis.url)]);
    try {
      const rate = { perMs: 1 / 60_000, burst: 3, text: "1/minute" };
      const [one, two] = instances.map((connections) => new ExecuteRateLimit(rate, connections));
      const caller = { tenantId: `rate-${Date.now()}`, subject: "s", role: "runner", via: "dev" } as never;
      await one!.check(caller);
      await two!.check(caller);
      await one!.check(caller);
      await assert.rejects(two!.check(caller), (error: Error & { code?: string }) => error.code === "RATE_LIMITED");
      await assert.rejects(one!.check(caller), (error: Error & { code?: string }) => error.code === "RATE_LIMITED");
      // A batch takes one token per input, at most the burst, from the same shared bucket.
      const batchCaller = { tenantId: `rate-batch-${Date.now()}`, subject: "s", role: "runner", via: "dev" } as never;
      await one!.check(batchCaller, 2);
      await assert.rejects(two!.check(batchCaller, 2), (error: Error & { code?: string }) => error.code === "RATE_LIMITED");
      await two!.check(batchCaller, 1);
      const bigCaller = { tenantId: `rate-big-${Date.now()}`, subject: "s", role: "runner", via: "dev" } as never;
      await one!.check(bigCaller, 1000);
      await assert.rejects(two!.check(bigCaller, 1), (error: Error & { code?: string }) => error.code === "RATE_LIMITED");
    } finally {
      await Promise.all(instances.map((c) => c.close()));
    }
  });

  it("keeps working through a Redis restart", async () => {
    // A connection dropped by the server comes back by itself; what is published after it does arrive.
    const admin = new Redis(redis.url);
    try {
      await admin.client("KILL", "TYPE", "pubsub");
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      admin.disconnect();
    }
    const [a, b] = cluster.instances;
    const client = wsClient(wsOf(b!.url));
    try {
      const events = collect<any>(client, EVENTS, { p: cluster.programId }, 3, 30_000);
      await events.ready;
      await cluster.submit(a!, 1, "after-kill");
      const received = (await events.done).map((e) => e.executionEvents.lastEvent.to);
      assert.deepEqual(received, ["PENDING", "RUNNING", "COMPLETED"]);
    } finally {
      await client.dispose();
    }
  });
});
