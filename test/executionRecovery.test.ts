import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expectData, graphql } from "./support/graphql.js";
import { startFakeOpenAI } from "./support/fakeOpenAI.js";
import { createScratchDatabase } from "./support/harness.js";
import { scratchMongoDatabase } from "./support/mongo.js";
import { failedStart, startServerProcess, type ServerProcess } from "./support/serverProcess.js";
import { createProgram, EXECUTION_FIELDS, pollExecution, stacks } from "./support/stacks.js";

/**
 * A server process killed in the middle of a job, and another started on the same stores: the job's
 * lock expires, the new instance takes the job, and the execution completes exactly once.
 */
for (const stack of stacks()) {
  describe(`recovery of a job whose server was killed [${stack.name}]`, function () {
    this.timeout(120_000);
    let dataDir = "";
    let env: Record<string, string> = {};
    let cleanup: (() => Promise<void>)[] = [];
    let servers: ServerProcess[] = [];

    before(async () => {
      // Made here, not when the file loads, so that a run that skips this suite leaves nothing behind.
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dspy-subgraph-recovery-"));
      env = { DATA_DIR: dataDir, DSPY_ADAPTER: "python", WORKERS: "1", JOB_LOCK_LIFETIME_MS: "1500", JOB_POLL_MS: "200" };
      if (stack.mongoServerUrl) {
        const sql = await createScratchDatabase(stack.target);
        const mongo = scratchMongoDatabase(stack.mongoServerUrl);
        env = { ...env, DATABASE_URL: sql.databaseUrl ?? "", MONGO_URL: mongo.url };
        cleanup = [() => sql.drop(), () => mongo.drop()];
      }
    });
    after(async () => {
      for (const server of servers) await server.kill();
      for (const step of cleanup) await step();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it("picks the job up again after a restart and completes it exactly once", async () => {
      let calls = 0;
      // The first call hangs long enough for the kill; the next answers at once.
      const lm = await startFakeOpenAI(() => ({ fields: { answer: "survived" }, delayMs: ++calls === 1 ? 30_000 : 0 }));
      try {
        const first = await startServerProcess(env);
        servers.push(first);
        const program = await createProgram(first.url, "recovered", { model: "openai/recovery", apiBase: lm.url, cache: false });
        const queued = expectData(
          await graphql(first.url, `mutation($p: ID!) { executeProgram(input: { programId: $p, inputs: { question: "who?", n: 1 } }) { id } }`, { p: program.programId }),
        ).executeProgram;
        await pollExecution(first.url, queued.id, (e) => e.status === "RUNNING");
        while (calls < 1) await new Promise((resolve) => setTimeout(resolve, 50));
        await first.kill();

        const second = await startServerProcess(env);
        servers.push(second);
        const done = await pollExecution(second.url, queued.id, (e) => ["COMPLETED", "FAILED", "CANCELLED"].includes(e.status), 60_000);
        assert.equal(done.status, "COMPLETED", JSON.stringify(done.error));
        assert.deepEqual(done.outputs, { answer: "survived" });
        assert.deepEqual(
          done.events.map((e: any) => [e.to, e.attempt]),
          [
            ["PENDING", 0],
            ["RUNNING", 1],
            ["PENDING", 1],
            ["RUNNING", 2],
            ["COMPLETED", 2],
          ],
        );
        assert.match(done.events[2].reason, /interrupted/);
        // Nothing runs it again later.
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        const later = expectData(await graphql(second.url, `query($id: ID!) { execution(id: $id) { ${EXECUTION_FIELDS} } }`, { id: queued.id })).execution;
        assert.equal(later.events.length, 5);
        assert.equal(calls, 2);
        assert.equal(await second.stop(), 0, second.output());
      } finally {
        await lm.close();
      }
    });
  });
}

describe("start-up with an unreachable MongoDB", function () {
  this.timeout(60_000);

  it("fails with a clear message naming the URL without credentials, and no unhandled rejection", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dspy-subgraph-nomongo-"));
    const { code, output } = await failedStart({ MONGO_URL: "mongodb://agenda:s3cret@127.0.0.1:1/jobs", DSPY_ADAPTER: "in-process", DATA_DIR: dataDir }).finally(() =>
      fs.rmSync(dataDir, { recursive: true, force: true }),
    );
    assert.equal(code, 1);
    assert.match(output, /failed to start: MONGO_URL: cannot reach MongoDB at mongodb:\/\/127\.0\.0\.1:1\/jobs/);
    assert.doesNotMatch(output, /s3cret/);
    assert.doesNotMatch(output, /Unhandled|unhandledRejection|\n\s+at /);
  });
});

describe("a server killed on its own", function () {
  this.timeout(60_000);
  let dataDir = "";
  before(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dspy-subgraph-orphans-"));
  });
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("takes its Python workers with it: they notice their parent is gone and exit", async () => {
    const server = await startServerProcess({ DSPY_ADAPTER: "python", WORKERS: "2", OPTIMIZATION_WORKERS: "1", DATA_DIR: dataDir });
    const pid = server.child.pid as number;
    const workers = execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).split("\n").map(Number).filter(Boolean);
    try {
      assert.equal(workers.length, 3, `the server's workers (2 for executions, 1 for optimizations): ${workers}`);
      process.kill(pid, "SIGKILL"); // the server only, not its process group
      const deadline = Date.now() + 15_000;
      while (workers.some(running) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(workers.filter(running), [], "workers outlived their server");
    } finally {
      await server.kill();
    }
  });
});

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // An exited worker not yet reaped by its new parent is a zombie: gone.
  return !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
}
