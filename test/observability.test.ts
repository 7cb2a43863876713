import "reflect-metadata";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { collect, expectData, graphql, wsClient } from "./support/graphql.js";
import { databaseTargets, startTestServer, type TestServer } from "./support/harness.js";
import { EXECUTION_FIELDS, predictDefinition } from "./support/stacks.js";

/** One series' value: the sum over every sample of `name` whose labels include `labels`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) total = (total ?? 0) + Number(match[3]);
  }
  return total;
}

async function scrape(server: TestServer): Promise<string> {
  const response = await fetch(server.url.replace("/graphql", "/metrics"));
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /text\/plain/);
  return response.text();
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  for (const until = Date.now() + timeoutMs; !(await check()); ) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const EXECUTE = `mutation Execute($input: ExecuteProgramInput!) { executeProgram(input: $input) { ${EXECUTION_FIELDS} } }`;

for (const target of databaseTargets()) {
  describe(`observability through the real worker pool [${target.name}]`, function () {
    this.timeout(120_000);
    let server: TestServer | undefined;
    let lm: Awaited<ReturnType<typeof startFakeOpenAI>> | undefined;
    const lines: string[] = [];
    const logged = () => lines.map((line) => JSON.parse(line) as Record<string, any>);
    const apiKey = `sk-obs-${randomBytes(12).toString("hex")}`;
    /** In every question: no log line may carry it. */
    const marker = `confidential-input-${randomBytes(6).toString("hex")}`;
    let programId = "";

    before(async () => {
      lm = await startFakeOpenAI(({ prompt }) => (prompt.includes("please-fail") ? { status: 400, errorMessage: "scripted bad request" } : { fields: { answer: "an answer" } }));
      server = await startTestServer(
        target,
        { DSPY_ADAPTER: "python", WORKERS: "1", LOG_LEVEL: "info", SECRETS_KEY: randomBytes(32).toString("hex"), EXECUTION_RETRY_BACKOFF_MS: "50" },
        { logDestination: { write: (line: string) => void lines.push(line) } },
      );
      const created = expectData(
        await graphql(server.url, `mutation($lm: CreateLanguageModelInput!) { createLanguageModel(input: $lm) { id } }`, {
          lm: { name: "obs-lm", model: "openai/obs-model", apiBase: lm.url, apiKey, cache: false },
        }),
      ).createLanguageModel;
      programId = expectData(
        await graphql(server.url, `mutation($d: JSON!, $lm: ID!) { createProgram(input: { name: "obs", definition: $d, languageModelId: $lm }) { id } }`, { d: predictDefinition(), lm: created.id }),
      ).createProgram.id;
    });
    after(async () => {
      await server?.stop();
      await lm?.close();
    });

    it("/metrics: requests, executions by status, LM calls, tokens, latency and errors by model, pickup latency, queue depth move", async () => {
      const before = await scrape(server!);
      for (let i = 0; i < 3; i++) {
        const done = expectData(await graphql(server!.url, EXECUTE, { input: { programId, inputs: { question: `${marker} ${i}`, n: 1 }, wait: true } })).executeProgram;
        assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
      }
      const failed = expectData(await graphql(server!.url, EXECUTE, { input: { programId, inputs: { question: `${marker} please-fail`, n: 1 }, wait: true } })).executeProgram;
      assert.equal(failed.status, "FAILED");
      assert.equal(failed.error.layer, "lm");
      const after = await scrape(server!);
      const moved = (name: string, labels: Record<string, string> = {}) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);

      assert.equal(moved("dspy_graphql_requests_total", { operation: "Execute", type: "mutation", outcome: "ok" }), 4);
      assert.equal(moved("dspy_graphql_request_duration_seconds_count", { operation: "Execute", type: "mutation" }), 4);
      assert.equal(moved("dspy_executions_total", { status: "COMPLETED" }), 3);
      assert.equal(moved("dspy_executions_total", { status: "FAILED" }), 1);
      assert.equal(moved("dspy_executions_total", { status: "COMPLETED", adapter: "python" }), 3, "by the adapter that ran them");
      assert.equal(moved("dspy_execution_transitions_total", { from: "NONE", to: "PENDING" }), 4);
      assert.equal(moved("dspy_execution_transitions_total", { from: "PENDING", to: "RUNNING" }), 4);
      assert.equal(moved("dspy_execution_duration_seconds_count", { status: "COMPLETED" }), 3);
      assert.equal(moved("dspy_execution_pickup_seconds_count", { attempt: "first" }), 4);
      // Waited for with a free slot, each started where it was accepted (the local fast path), not through the queue.
      assert.ok(moved("dspy_execution_pickup_seconds_sum", { attempt: "first" }) < 0.05);
      const model = { model: "openai/obs-model" };
      assert.ok(moved("dspy_lm_calls_total", model) >= 4, after);
      assert.equal(moved("dspy_lm_tokens_total", { ...model, kind: "prompt" }), 10 * 3, "the fake LM reports 10 prompt tokens per answered call");
      assert.equal(moved("dspy_lm_tokens_total", { ...model, kind: "completion" }), 5 * 3);
      assert.ok(moved("dspy_lm_call_duration_seconds_count", model) >= 4);
      assert.ok(moved("dspy_lm_errors_total") >= 1, "the failed call counted");
      assert.equal(sample(after, "dspy_execution_queue_depth"), 0);
      assert.equal(sample(after, "dspy_executions_running"), 0);
      assert.ok((sample(after, "process_cpu_seconds_total") ?? 0) > 0, "default process metrics are there");
      // No id of a user's object in any label, but in the per-version series (bounded), which are by program version.
      const withIds = after.split("\n").filter((line) => line.includes(programId));
      assert.ok(withIds.length > 0 && withIds.every((line) => line.startsWith("dspy_program_version_")), `ids only in the per-version series: ${withIds.find((l) => !l.startsWith("dspy_program_version_"))}`);
      assert.equal(moved("dspy_program_version_executions_total", { program_id: programId, status: "COMPLETED" }), 3);
    });

    it("/metrics: worker pool size, busy slots and restarts; subscriptions open", async () => {
      const before = await scrape(server!);
      assert.equal(sample(before, "dspy_workers", { pool: "executions", state: "ready" }), 1);
      assert.ok((sample(before, "dspy_worker_slots", { pool: "executions", state: "total" }) ?? 0) >= 1);
      assert.equal(sample(before, "dspy_worker_slots", { pool: "executions", state: "busy" }), 0);
      assert.equal(sample(before, "dspy_worker_queue_depth", { pool: "executions" }), 0);

      const pool = (server!.adapter as unknown as { pool: { info(): { pid?: number; ready: boolean }[] } }).pool;
      const victim = pool.info()[0];
      process.kill(victim.pid!, "SIGKILL");
      await waitFor(() => pool.info().some((worker) => worker.ready && worker.pid !== victim.pid));
      const after = await scrape(server!);
      assert.equal((sample(after, "dspy_worker_restarts_total", { pool: "executions" }) ?? 0) - (sample(before, "dspy_worker_restarts_total", { pool: "executions" }) ?? 0), 1);
      assert.equal((sample(after, "dspy_worker_deaths_total", { pool: "executions" }) ?? 0) - (sample(before, "dspy_worker_deaths_total", { pool: "executions" }) ?? 0), 1);
      assert.equal(sample(after, "dspy_workers", { pool: "executions", state: "ready" }), 1);
      const died = logged().find((entry) => entry.msg === "worker died" && entry.pid === victim.pid);
      assert.ok(died, "the death is logged");
      assert.deepEqual([died.level, died.pool, died.signal], ["warn", "executions", "SIGKILL"]);
      assert.ok(logged().some((entry) => entry.msg === "worker ready" && entry.pid !== victim.pid), "the birth is logged");

      const client = wsClient(server!.wsUrl);
      try {
        const subscription = collect(client, `subscription($id: ID!) { executionEvents(programId: $id) { id status } }`, { id: programId }, 1, 60_000);
        subscription.done.catch(() => undefined);
        await waitFor(async () => sample(await scrape(server!), "dspy_graphql_subscriptions_open", { transport: "ws" }) === 1);
        subscription.unsubscribe();
        await waitFor(async () => sample(await scrape(server!), "dspy_graphql_subscriptions_open", { transport: "ws" }) === 0);
      } finally {
        await client.dispose();
      }
    });

    it("logs one line per request (request id, tenant, principal, duration) and per transition, without inputs or the API key", async () => {
      const response = await fetch(server!.url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": "req-from-gateway-1" },
        body: JSON.stringify({ query: EXECUTE, variables: { input: { programId, inputs: { question: `${marker} logged`, n: 1 }, wait: true } } }),
      });
      assert.equal(response.headers.get("x-request-id"), "req-from-gateway-1", "the caller's id is echoed");
      const done = ((await response.json()) as any).data.executeProgram;
      assert.equal(done.status, "COMPLETED");
      const generated = await fetch(server!.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "query Nothing { executions(first: 1) { totalCount } }" }) });
      const generatedId = generated.headers.get("x-request-id");
      assert.match(generatedId ?? "", /^[0-9a-f-]{36}$/, "an id is generated when none is sent");

      const entries = logged();
      const requests = entries.filter((entry) => entry.msg === "graphql request");
      const mine = requests.filter((entry) => entry.requestId === "req-from-gateway-1");
      assert.equal(mine.length, 1, "one line per request");
      assert.deepEqual([mine[0].operation, mine[0].type, mine[0].tenant, mine[0].principal, mine[0].level], ["Execute", "mutation", "default", "dev", "info"]);
      assert.ok(typeof mine[0].durationMs === "number" && mine[0].durationMs > 0);
      assert.equal(requests.filter((entry) => entry.requestId === generatedId).length, 1);

      const transitions = entries.filter((entry) => entry.msg === "execution transition" && entry.executionId === done.id);
      assert.deepEqual(transitions.map((entry) => `${entry.from}>${entry.to}`), ["NONE>PENDING", "PENDING>RUNNING", "RUNNING>COMPLETED"]);
      assert.ok(transitions.every((entry) => entry.tenant === "default" && entry.programId === programId && typeof entry.time === "string"));
      const failure = entries.find((entry) => entry.msg === "execution transition" && entry.to === "FAILED");
      assert.ok(failure, "the failed execution of the first test was logged");
      assert.deepEqual([failure.level, failure.error?.layer], ["warn", "lm"]);

      const everything = lines.join("");
      assert.ok(!everything.includes(marker), "an input appears in the logs");
      assert.ok(!everything.includes(apiKey), "the API key appears in the logs");
      assert.ok(!everything.includes("an answer"), "an output appears in the logs");
    });

    it("/readyz is 200 with its parts, and 503 naming the workers once the pool is gone; /healthz stays 200", async () => {
      const ready = await fetch(server!.url.replace("/graphql", "/readyz"));
      const report = (await ready.json()) as any;
      assert.equal(ready.status, 200, JSON.stringify(report));
      assert.deepEqual([report.status, report.failing, report.database.ok, report.jobStore.ok, report.workers.ok, report.workers.ready], ["ok", [], true, true, true, 1]);
      await server!.adapter.close();
      const down = await fetch(server!.url.replace("/graphql", "/readyz"));
      const downReport = (await down.json()) as any;
      assert.equal(down.status, 503, JSON.stringify(downReport));
      assert.ok(downReport.failing.includes("workers"), JSON.stringify(downReport));
      assert.equal(downReport.workers.ok, false);
      const live = await fetch(server!.url.replace("/graphql", "/healthz"));
      assert.equal(live.status, 200);
      assert.equal(((await live.json()) as any).status, "ok");
    });
  });
}

describe("/readyz with the in-process adapter [sqlite]", function () {
  this.timeout(60_000);
  it("checks extra parts (the hook for Redis) and the database; 503 lists what fails", async () => {
    let redisUp = true;
    const server = await startTestServer(databaseTargets()[0], {}, {
      readinessChecks: [
        {
          name: "redis",
          probe: async () => {
            if (!redisUp) throw new Error("connection refused");
            return { pingMs: 1 };
          },
        },
      ],
    });
    try {
      const readyz = server.url.replace("/graphql", "/readyz");
      const ok = (await (await fetch(readyz)).json()) as any;
      assert.deepEqual([ok.status, ok.redis], ["ok", { ok: true, pingMs: 1 }]);
      redisUp = false;
      const down = await fetch(readyz);
      assert.equal(down.status, 503);
      assert.deepEqual(((await down.json()) as any).failing, ["redis"]);
      await server.database.dataSource.destroy();
      const noDatabase = (await (await fetch(readyz)).json()) as any;
      assert.deepEqual(noDatabase.failing.slice(0, 1), ["database"]);
      assert.equal(typeof noDatabase.database.error, "string");
      // The scrape still answers: a part that is down does not take /metrics with it.
      assert.equal((await fetch(server.url.replace("/graphql", "/metrics"))).status, 200);
    } finally {
      await server.stop().catch(() => undefined);
    }
  });
});

describe("CORS [sqlite]", function () {
  this.timeout(60_000);
  const APP = "https://app.example.com";
  let server: TestServer | undefined;
  let closed: TestServer | undefined;
  before(async () => {
    [server, closed] = await Promise.all([startTestServer(databaseTargets()[0], { CORS_ORIGINS: `${APP}, http://localhost:5173` }), startTestServer(databaseTargets()[0])]);
  });
  after(async () => {
    await Promise.all([server?.stop(), closed?.stop()]);
  });
  const preflight = (url: string, origin: string) =>
    fetch(url, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type, authorization" } });

  it("answers a preflight from an allowed origin with 204 and what it may send", async () => {
    const response = await preflight(server!.url, APP);
    assert.equal(response.status, 204);
    assert.equal(response.headers.get("access-control-allow-origin"), APP);
    assert.match(response.headers.get("access-control-allow-methods") ?? "", /POST/);
    const allowed = response.headers.get("access-control-allow-headers") ?? "";
    for (const header of ["content-type", "authorization", "x-api-key"]) assert.ok(allowed.includes(header), allowed);
    assert.match(response.headers.get("vary") ?? "", /Origin/);
    assert.equal(response.headers.get("access-control-allow-credentials"), null);
  });

  it("lets the allowed origin read the answer and its request id; another origin gets no CORS headers", async () => {
    const response = await fetch(server!.url, { method: "POST", headers: { origin: APP, "content-type": "application/json" }, body: JSON.stringify({ query: "{ programs(first: 1) { totalCount } }" }) });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("access-control-allow-origin"), APP);
    assert.match(response.headers.get("access-control-expose-headers") ?? "", /x-request-id/);
    const other = await preflight(server!.url, "https://evil.example.com");
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  });

  it("sends no CORS headers without CORS_ORIGINS", async () => {
    const response = await preflight(closed!.url, APP);
    assert.equal(response.headers.get("access-control-allow-origin"), null);
  });
});

describe("observability of evaluations (the run state machine)", function () {
  this.timeout(60_000);
  it("logs each evaluation transition and counts it in the run series", async () => {
    const lines: string[] = [];
    const server = await startTestServer(databaseTargets()[0]!, { LOG_LEVEL: "info" }, { logDestination: { write: (line: string) => void lines.push(line) } });
    try {
      const lm = expectData(await graphql(server.url, `mutation { createLanguageModel(input: { name: "runs-lm", model: "dummy", config: { answers: { France: { answer: "Paris" } } } }) { id } }`)).createLanguageModel.id;
      const program = expectData(await graphql(server.url, `mutation($d: JSON!, $lm: ID!) { createProgram(input: { name: "runs", definition: $d, languageModelId: $lm }) { currentVersion { id } } }`, { d: predictDefinition(), lm })).createProgram;
      const examples = [{ inputs: { question: "capital of France?", n: 1 }, labels: { answer: "Paris" }, split: "TEST" }];
      const datasetId = expectData(await graphql(server.url, `mutation($e: [ExampleInput!]) { createDataset(input: { name: "runs-data", examples: $e }) { id } }`, { e: examples })).createDataset.id;
      const evaluation = expectData(
        await graphql(server.url, `mutation($input: EvaluateProgramInput!) { evaluateProgram(input: $input) { id } }`, {
          input: { versionId: program.currentVersion.id, datasetId, split: "TEST", metric: { kind: "exact_match", output: "answer", label: "answer" } },
        }),
      ).evaluateProgram;
      await waitFor(async () => expectData(await graphql(server.url, `query($id: ID!) { evaluation(id: $id) { status } }`, { id: evaluation.id })).evaluation.status === "COMPLETED");
      const text = await scrape(server);
      assert.equal(sample(text, "dspy_runs_total", { kind: "evaluation", status: "COMPLETED" }), 1);
      assert.equal(sample(text, "dspy_run_transitions_total", { kind: "evaluation", from: "RUNNING", to: "COMPLETED" }), 1);
      assert.equal(sample(text, "dspy_run_transitions_total", { kind: "evaluation", from: "NONE", to: "PENDING" }), 1);
      const transitions = lines.map((line) => JSON.parse(line) as Record<string, any>).filter((entry) => entry.msg === "evaluation transition" && entry.evaluationId === evaluation.id);
      assert.deepEqual(transitions.map((entry) => [entry.from, entry.to]), [["NONE", "PENDING"], ["PENDING", "RUNNING"], ["RUNNING", "COMPLETED"]]);
    } finally {
      await server.stop();
    }
  });
});
