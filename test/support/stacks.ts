import { type DatabaseTarget, databaseTargets, startTestServer, type TestServer } from "./harness.js";
import { mongoTestUrl, scratchMongoDatabase } from "./mongo.js";
import { expectData, graphql } from "./graphql.js";

/** Where executions live: the embedded defaults, or MariaDB with jobs in MongoDB (FerretDB). */
export interface Stack {
  name: "embedded" | "mariadb+mongo";
  target: DatabaseTarget;
  mongoServerUrl?: string;
}

/** The embedded stack always; MariaDB + Mongo when both servers of the run are there (CI requires them). */
export function stacks(): Stack[] {
  const targets = databaseTargets();
  const mariadb = targets.find((t) => t.name === "mariadb");
  const mongo = mongoTestUrl();
  const result: Stack[] = [{ name: "embedded", target: targets[0] }];
  if (mariadb && mongo) result.push({ name: "mariadb+mongo", target: mariadb, mongoServerUrl: mongo });
  return result;
}

/** Settings that keep retries and recovery quick in tests. */
export const FAST_JOBS = { JOB_POLL_MS: "200", EXECUTION_RETRY_BACKOFF_MS: "100" };

/** A server on `stack` (its own databases), torn down with `stop`. */
export async function startStackServer(stack: Stack, env: Record<string, string> = {}): Promise<TestServer> {
  const mongo = stack.mongoServerUrl ? scratchMongoDatabase(stack.mongoServerUrl) : undefined;
  const server = await startTestServer(stack.target, { ...FAST_JOBS, ...env, ...(mongo ? { MONGO_URL: mongo.url } : {}) });
  return {
    ...server,
    async stop() {
      await server.stop();
      await mongo?.drop();
    },
  };
}

/** Runs `body` once per stack, each with its own server. */
export function describeEachStack(title: string, env: Record<string, string>, body: (server: () => TestServer, stack: Stack) => void): void {
  for (const stack of stacks()) {
    describe(`${title} [${stack.name}]`, function () {
      this.timeout(90_000);
      let server: TestServer | undefined;
      before(async () => {
        server = await startStackServer(stack, env);
      });
      after(async () => {
        await server?.stop();
      });
      body(() => {
        if (!server) throw new Error("server not started");
        return server;
      }, stack);
    });
  }
}

/** A Predict program that answers `question`, on a language model created with `lm`. */
export async function createProgram(url: string, name: string, lm: Record<string, unknown>, definition: unknown = predictDefinition()): Promise<{ programId: string; languageModelId: string; versionId: string }> {
  const created = expectData(
    await graphql(url, `mutation($lm: CreateLanguageModelInput!) { createLanguageModel(input: $lm) { id } }`, { lm: { name: `${name}-lm`, ...lm } }),
  ).createLanguageModel;
  const program = expectData(
    await graphql(url, `mutation($n: String!, $d: JSON!, $lm: ID!) { createProgram(input: { name: $n, definition: $d, languageModelId: $lm }) { id currentVersion { id } } }`, {
      n: name,
      d: definition,
      lm: created.id,
    }),
  ).createProgram;
  return { programId: program.id, languageModelId: created.id, versionId: program.currentVersion.id };
}

export function predictDefinition(): Record<string, unknown> {
  return {
    inputs: { question: { type: "str" }, n: { type: "int" } },
    modules: { answerer: { type: "Predict", signature: { instructions: "Answer briefly.", inputs: { question: { type: "str" } }, outputs: { answer: { type: "str" } } } } },
    forward: [{ call: "answerer", with: { question: "$input.question" }, as: "a" }, { return: { answer: "$a.answer" } }],
  };
}

/** DSPy's DummyLM answering by substring of the prompt. */
export function dummyLm(answers: Record<string, Record<string, unknown>>): Record<string, unknown> {
  return { model: "dummy", config: { answers } };
}

export const EXECUTION_FIELDS = `id status inputs outputs attempt maxAttempts idempotencyKey queuedAt startedAt finishedAt
  error { code layer message retriable }
  usage { promptTokens completionTokens totalTokens lmCalls }
  trace
  lastEvent { seq from to reason attempt }
  events { seq from to at reason attempt }`;

/** Polls `execution(id)` until `done` holds (or fails after `timeoutMs`). */
export async function pollExecution(url: string, id: string, done: (execution: any) => boolean, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const execution = expectData(await graphql(url, `query($id: ID!) { execution(id: $id) { ${EXECUTION_FIELDS} } }`, { id })).execution;
    if (done(execution)) return execution;
    if (Date.now() > deadline) throw new Error(`execution never reached the expected state; last: ${JSON.stringify(execution)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Waits (at most 10 s) until no job named `name` is left. A job is removed just after its run
 * ends, so right after an earlier test saw its run complete, the job may still be there.
 */
export async function jobsDrained(server: TestServer, name: string): Promise<void> {
  for (const until = Date.now() + 10_000; (await server.jobs.countJobs(name)) > 0 && Date.now() < until; ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
