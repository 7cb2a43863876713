import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expectData, graphql } from "./support/graphql.js";
import { databaseTargets, startTestServer, type TestServer } from "./support/harness.js";
import { createProgram, dummyLm } from "./support/stacks.js";

const WORKER_CLI = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../src/cli/worker.js");

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** `npm run worker` on "another machine": a server that starts no workers of its own (WORKERS=0) runs on it. */
describe("a remote worker host (npm run worker)", function () {
  this.timeout(120_000);
  let server: TestServer;
  let worker: ChildProcess | undefined;
  let endpoint: string;

  before(async () => {
    endpoint = `tcp://127.0.0.1:${await freePort()}`;
    server = await startTestServer(databaseTargets()[0]!, { DSPY_ADAPTER: "python", WORKERS: "0", WORKER_BIND: endpoint });
  });

  after(async () => {
    worker?.kill("SIGKILL");
    await server?.stop();
  });

  it("connects, runs executions, and drains on SIGTERM", async () => {
    let output = "";
    worker = spawn(process.execPath, [WORKER_CLI, "--connect", endpoint, "--id", "remote-test"], { stdio: ["ignore", "pipe", "pipe"] });
    worker.stdout?.on("data", (chunk) => (output += chunk));
    worker.stderr?.on("data", (chunk) => (output += chunk));
    const program = await createProgram(server.url, "remote", dummyLm({ France: { answer: "Paris" } }));
    const execution = expectData(await graphql(server.url, `mutation($p: ID!) { executeProgram(input: { programId: $p, inputs: { question: "capital of France?", n: 1 }, wait: true }) { status outputs error { code message } } }`, { p: program.programId })).executeProgram;
    assert.equal(execution.status, "COMPLETED", `${JSON.stringify(execution.error)}\n${output}`);
    assert.deepEqual(execution.outputs, { answer: "Paris" });
    const exited = new Promise<number | null>((resolve) => worker!.once("exit", (code) => resolve(code)));
    worker.kill("SIGTERM");
    assert.equal(await exited, 0, output);
  });

  it("refuses an endpoint it cannot use, with usage", async () => {
    const bad = spawn(process.execPath, [WORKER_CLI, "--connect", "http://example.com"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    bad.stderr?.on("data", (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => bad.once("exit", (c) => resolve(c)));
    assert.equal(code, 2);
    assert.match(stderr, /usage: npm run worker -- --connect tcp:\/\//);
  });
});
