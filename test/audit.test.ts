import assert from "node:assert/strict";
import { Execution, ExecutionStatus } from "../entities/index.js";
import { AuditLog, diff, isSecretField, REDACTED } from "../src/audit/AuditLog.js";
import { requestIdOf, scopeFor } from "../src/graphql/context.js";
import { buildFederatedSchema } from "../src/graphql/schema.js";
import { createInProcessEventBus } from "../src/pubsub.js";
import { Role } from "../src/auth/roles.js";
import { expectData, expectError, graphql } from "./support/graphql.js";
import { describeEachDatabase } from "./support/harness.js";
import { jwtAuth } from "./support/jwt.js";
import { dummyLm, predictDefinition } from "./support/stacks.js";

const SECRET = "audit-test-secret-0123456789abcdef-0123456789abcdef";
const AUTH = jwtAuth(SECRET);
// Jobs never run here (no notifications, an hour between polls): executions stay PENDING until a test moves them.
const ENV = { ...AUTH.env, JOB_NOTIFICATIONS: "0", JOB_POLL_MS: "3600000" };
const PAGE = 20;
const SECRET_ENV = "AUDIT_SECRET_ENV_NAME_123_API_KEY";
const SECRET_ENV_2 = "AUDIT_SECRET_ENV_OTHER_456_API_KEY";

function token(sub: string, role: string, tenant = "tenant-a"): Promise<Record<string, string>> {
  return AUTH.bearer(sub, role, tenant);
}

const EVENT_FIELDS = `id action entityType entityId changes requestId at actor { subject via apiKeyId }`;
const AUDIT_EVENTS = `query($filter: AuditEventFilter, $first: Int, $after: String) {
  auditEvents(filter: $filter, first: $first, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { ${EVENT_FIELDS} } } }
}`;
const CREATE_KEY = `mutation($name: String!, $role: Role!) { createApiKey(input: { name: $name, role: $role }) { secret apiKey { id prefix } } }`;
const CREATE_PROGRAM = `mutation($n: String!, $d: JSON!, $lm: ID) { createProgram(input: { name: $n, definition: $d, languageModelId: $lm }) { id version currentVersionId: currentVersion { id } } }`;
const EXECUTE = `mutation($id: ID!, $q: String!, $key: String) { executeProgram(input: { programId: $id, inputs: { question: $q, n: 1 }, idempotencyKey: $key }) { id status } }`;

/**
 * One case per mutation of the schema. The test "covers every mutation" fails when a mutation is
 * added without a case here, i.e. without its audit event being checked.
 */
const AUDITED_MUTATIONS = [
  "createLanguageModel",
  "updateLanguageModel",
  "createApiKey",
  "revokeApiKey",
  "createProgram",
  "updateProgram",
  "deleteProgram",
  "createDataset",
  "addExamples",
  "executeProgram",
  "cancelExecution",
  "executeProgramBatch",
  "cancelBatch",
  "retryExecution",
  "evaluateProgram",
  "cancelEvaluation",
  "optimizeProgram",
  "cancelOptimization",
  "scheduleOptimization",
  "unscheduleOptimization",
  "importProgramVersion",
  "promoteProgramVersion",
  "setProgramLabel",
  "deleteProgramLabel",
  "submitFeedback",
  "addExamplesFromFeedback",
  "setBudget",
  "deleteBudget",
  "createCorpus",
  "addDocuments",
  "deleteCorpus",
];

describe("audit trail: units", () => {
  it("covers every mutation of the schema, and no mutation can touch audit events", async () => {
    const schema = await buildFederatedSchema(createInProcessEventBus());
    const mutations = schema.getMutationType()?.getFields() ?? {};
    assert.deepEqual(Object.keys(mutations).sort(), [...AUDITED_MUTATIONS].sort(), "every mutation needs an audit case in test/audit.test.ts");
    for (const [name, field] of Object.entries(mutations)) {
      assert.doesNotMatch(name, /audit/i);
      assert.doesNotMatch(String(field.type), /Audit/, `${name} returns an audit type`);
    }
    assert.ok(schema.getQueryType()?.getFields().auditEvents, "auditEvents query exists");
  });

  it("recognises secret-looking field names, not lookalikes, the first time and once remembered", () => {
    for (const round of ["judged", "remembered"]) {
      for (const name of ["secretEnv", "apiKeyEncrypted", "api_key", "apiKey", "encryptedSecret", "accessToken", "password", "hash", "client-secret", "privateKey"]) {
        assert.ok(isSecretField(name), `${name} (${round})`);
      }
      for (const name of ["maxTokens", "name", "model", "idempotencyKey", "promptTokens", "config", "prefix"]) assert.ok(!isSecretField(name), `${name} (${round})`);
    }
    // Past the memory's bound it starts again, and still judges right.
    for (let i = 0; i < 5000; i++) isSecretField(`field${i}`);
    assert.ok(isSecretField("secretEnv") && isSecretField("someAccessToken") && !isSecretField("field1"));
  });

  it("diff keeps only changed fields and redacts secrets, also nested ones", () => {
    const before = { name: "a", secretEnv: "S1", apiKeyEncrypted: null, config: { api_key: "k1", n: 1 }, temperature: null };
    const after = { name: "a", secretEnv: "S2", apiKeyEncrypted: "v1:ciphertext", config: { api_key: "k2", n: 1 }, temperature: 0.2 };
    assert.deepEqual(diff(before, after), {
      secretEnv: { before: REDACTED, after: REDACTED },
      apiKeyEncrypted: { before: null, after: REDACTED },
      config: { before: { api_key: REDACTED, n: 1 }, after: { api_key: REDACTED, n: 1 } },
      temperature: { before: null, after: 0.2 },
    });
    assert.deepEqual(diff(null, { name: "x", secretEnv: "S" }), { name: { after: "x" }, secretEnv: { after: REDACTED } });
    assert.deepEqual(diff({ name: "x" }, null), { name: { before: "x" } });
  });

  it("builds the scope's actor from the principal and keeps a sane x-request-id", () => {
    assert.deepEqual(scopeFor({ subject: "api_key:k", tenantId: "t", role: Role.RUNNER, via: "api_key", apiKeyId: "k" }, "r1", "none"), {
      tenantId: "t",
      actor: { subject: "api_key:k", via: "api_key", apiKeyId: "k" },
      requestId: "r1",
    });
    assert.deepEqual(scopeFor({ subject: "dev", tenantId: "default", role: Role.ADMIN, via: "dev" }, "r2", "none").actor, { subject: "dev", via: "dev" });
    assert.equal(scopeFor(null, "r3", "none").actor, undefined);
    assert.equal(requestIdOf("req-42"), "req-42");
    for (const bad of [undefined, "", "x".repeat(201), "a\nb"]) assert.match(requestIdOf(bad), /^[0-9a-f-]{36}$/);
  });
});

describeEachDatabase(
  "audit trail",
  (server) => {
    let admin: Record<string, string>;
    let adminB: Record<string, string>;
    const keys: { editor?: { secret: string; id: string }; runner?: { secret: string; id: string }; viewer?: { secret: string; id: string } } = {};
    const secrets: string[] = [];
    const state: Record<string, string> = {};
    let requestCounter = 0;

    const run = (query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) => graphql(server().url, query, variables, headers);
    const auditRows = () => server().countRows("audit_event");
    const asKey = (key: { secret: string } | undefined) => ({ "x-api-key": (key as { secret: string }).secret });

    /** Every event matching `filter`, in pages small enough for any query-cost limit. */
    async function allEvents(filter: Record<string, unknown> = {}, headers: Record<string, string> = admin): Promise<{ totalCount: number; nodes: any[] }> {
      const nodes: any[] = [];
      let after: string | undefined;
      let totalCount = 0;
      for (;;) {
        const page = expectData(await run(AUDIT_EVENTS, { filter, first: PAGE, after }, headers)).auditEvents;
        totalCount = page.totalCount;
        nodes.push(...page.edges.map((e: any) => e.node));
        if (!page.pageInfo.hasNextPage) return { totalCount, nodes };
        after = page.pageInfo.endCursor;
      }
    }

    /** Runs a mutation that must succeed and write exactly one audit event; returns its data and that event. */
    async function audited(query: string, variables: Record<string, unknown>, headers: Record<string, string> = admin) {
      const requestId = `audit-req-${++requestCounter}-${Date.now()}`;
      const before = await auditRows();
      const data = expectData(await run(query, variables, { ...headers, "x-request-id": requestId }));
      assert.equal(await auditRows(), before + 1, "exactly one audit event per successful mutation");
      const matching = (await allEvents()).nodes.filter((e: any) => e.requestId === requestId);
      assert.equal(matching.length, 1, `one event with request id ${requestId}`);
      return { data: data as Record<string, any>, event: matching[0] };
    }

    /** Runs a mutation that must fail with `code` and write nothing. */
    async function refused(code: string, query: string, variables: Record<string, unknown>, headers: Record<string, string> = admin) {
      const before = await auditRows();
      expectError(await run(query, variables, headers), code);
      assert.equal(await auditRows(), before, `a failed mutation (${code}) writes no audit event`);
    }

    before(async () => {
      admin = await token("alice", "admin");
      adminB = await token("bob", "admin", "tenant-b");
      for (const role of ["editor", "runner", "viewer"] as const) {
        const created = expectData(await run(CREATE_KEY, { name: `${role} key`, role: role.toUpperCase() }, admin)).createApiKey;
        keys[role] = { secret: created.secret, id: created.apiKey.id };
        secrets.push(created.secret);
      }
    });

    it("createLanguageModel: after only, secretEnv redacted, actor and request id recorded", async () => {
      const { data, event } = await audited(`mutation($lm: CreateLanguageModelInput!) { createLanguageModel(input: $lm) { id } }`, {
        lm: { name: "audit-lm", secretEnv: SECRET_ENV, ...dummyLm({ France: { answer: "Paris" } }) },
      });
      state.lm = data.createLanguageModel.id;
      assert.equal(event.action, "languageModel.create");
      assert.equal(event.entityType, "LanguageModel");
      assert.equal(event.entityId, state.lm);
      assert.deepEqual(event.actor, { subject: "alice", via: "jwt", apiKeyId: null });
      assert.equal(event.changes.name.after, "audit-lm");
      assert.equal(event.changes.model.after, "dummy");
      assert.equal(event.changes.secretEnv.after, REDACTED);
      for (const change of Object.values(event.changes) as any[]) assert.deepEqual(Object.keys(change), ["after"]);
      for (const bookkeeping of ["id", "tenantId", "createdAt", "updatedAt", "version"]) assert.ok(!(bookkeeping in event.changes), bookkeeping);
      assert.ok(Math.abs(Date.parse(event.at) - Date.now()) < 60_000);
    });

    it("updateLanguageModel: before/after of the changed fields only", async () => {
      const { event } = await audited(`mutation($id: ID!, $s: String) { updateLanguageModel(input: { id: $id, temperature: 0.5, secretEnv: $s, name: "audit-lm" }) { id } }`, {
        id: state.lm,
        s: SECRET_ENV_2,
      });
      assert.equal(event.action, "languageModel.update");
      assert.deepEqual(event.changes, { temperature: { before: null, after: 0.5 }, secretEnv: { before: REDACTED, after: REDACTED } });
    });

    it("createApiKey: name, role and prefix only (never the hash or the secret)", async () => {
      const { data, event } = await audited(CREATE_KEY, { name: "throwaway", role: "VIEWER" });
      state.throwawayKey = data.createApiKey.apiKey.id;
      secrets.push(data.createApiKey.secret);
      assert.equal(event.action, "apiKey.create");
      assert.equal(event.entityType, "ApiKey");
      assert.equal(event.entityId, state.throwawayKey);
      assert.deepEqual(event.changes, { name: { after: "throwaway" }, role: { after: "viewer" }, prefix: { after: data.createApiKey.apiKey.prefix } });
    });

    it("revokeApiKey: revokedAt before/after; revoking again changes nothing and records nothing", async () => {
      const { event } = await audited(`mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`, { id: state.throwawayKey });
      assert.equal(event.action, "apiKey.revoke");
      assert.equal(event.changes.revokedAt.before, null);
      assert.ok(Date.parse(event.changes.revokedAt.after) > 0);
      assert.deepEqual(Object.keys(event.changes), ["revokedAt"]);
      const before = await auditRows();
      expectData(await run(`mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: state.throwawayKey }, admin));
      assert.equal(await auditRows(), before);
    });

    it("createProgram through an editor API key: actor via api_key with the key's id", async () => {
      const { data, event } = await audited(CREATE_PROGRAM, { n: "audit-program", d: predictDefinition(), lm: state.lm }, asKey(keys.editor));
      state.program = data.createProgram.id;
      assert.equal(event.action, "program.create");
      assert.equal(event.entityType, "Program");
      assert.equal(event.entityId, state.program);
      assert.deepEqual(event.actor, { subject: `api_key:${keys.editor?.id}`, via: "api_key", apiKeyId: keys.editor?.id });
      assert.deepEqual(event.changes.definition.after, predictDefinition());
      assert.equal(event.changes.languageModelId.after, state.lm);
      assert.equal(event.changes.currentVersionId.after, data.createProgram.currentVersionId.id);
      assert.deepEqual(event.changes.description, { after: null });
    });

    it("updateProgram: only the renamed field", async () => {
      const { event } = await audited(`mutation($id: ID!) { updateProgram(input: { id: $id, name: "audit-program-renamed" }) { id } }`, { id: state.program });
      assert.equal(event.action, "program.update");
      assert.deepEqual(event.changes, { name: { before: "audit-program", after: "audit-program-renamed" } });
      // Nothing to change: nothing written, nothing recorded.
      const before = await auditRows();
      expectData(await run(`mutation($id: ID!) { updateProgram(input: { id: $id }) { id } }`, { id: state.program }, admin));
      assert.equal(await auditRows(), before);
    });

    it("createDataset and addExamples: the dataset's fields and its example count", async () => {
      const created = await audited(`mutation { createDataset(input: { name: "audit-ds", examples: [{ inputs: { q: "a" } }, { inputs: { q: "b" } }] }) { id } }`, {});
      state.dataset = created.data.createDataset.id;
      assert.equal(created.event.action, "dataset.create");
      assert.equal(created.event.entityType, "Dataset");
      assert.equal(created.event.entityId, state.dataset);
      assert.deepEqual(created.event.changes, { name: { after: "audit-ds" }, description: { after: null }, exampleCount: { after: 2 } });
      const added = await audited(`mutation($id: ID!) { addExamples(input: { datasetId: $id, examples: [{ inputs: { q: "c" } }] }) { examples { id } } }`, { id: state.dataset });
      assert.equal(added.event.action, "dataset.addExamples");
      assert.equal(added.event.entityId, state.dataset);
      assert.deepEqual(added.event.changes, { exampleCount: { before: 2, after: 3 } });
    });

    it("createCorpus, addDocuments and deleteCorpus: the corpus's fields, its document count, then before only", async () => {
      const created = await audited(`mutation { createCorpus(input: { name: "audit-corpus" }) { id } }`, {});
      const id = created.data.createCorpus.id;
      assert.equal(created.event.action, "corpus.create");
      assert.equal(created.event.entityType, "Corpus");
      assert.equal(created.event.entityId, id);
      assert.deepEqual(created.event.changes, { name: { after: "audit-corpus" }, description: { after: null }, embeddingModel: { after: "local/all-MiniLM-L6-v2" } });
      const added = await audited(`mutation($id: ID!) { addDocuments(input: { corpusId: $id, documents: [{ text: "one" }, { text: "two" }] }) { documents { id } } }`, { id });
      assert.equal(added.event.action, "corpus.addDocuments");
      assert.deepEqual(added.event.changes, { documentCount: { before: 0, after: 2 } });
      const deleted = await audited(`mutation($id: ID!) { deleteCorpus(id: $id) }`, { id });
      assert.equal(deleted.event.action, "corpus.delete");
      assert.deepEqual(deleted.event.changes, { name: { before: "audit-corpus" }, description: { before: null }, embeddingModel: { before: "local/all-MiniLM-L6-v2" }, documentCount: { before: 2 } });
    });

    it("executeProgram through a runner key; the idempotent repeat records nothing", async () => {
      const { data, event } = await audited(EXECUTE, { id: state.program, q: "capital of France?", key: "audit-key-1" }, asKey(keys.runner));
      state.execution = data.executeProgram.id;
      assert.equal(event.action, "execution.create");
      assert.equal(event.entityType, "Execution");
      assert.equal(event.entityId, state.execution);
      assert.equal(event.actor.apiKeyId, keys.runner?.id);
      assert.deepEqual(event.changes.inputs, { after: { question: "capital of France?", n: 1 } });
      assert.deepEqual(event.changes.status, { after: "PENDING" });
      assert.deepEqual(event.changes.programId, { after: state.program });
      assert.deepEqual(event.changes.idempotencyKey, { after: "audit-key-1" });
      const before = await auditRows();
      const again = expectData(await run(EXECUTE, { id: state.program, q: "capital of France?", key: "audit-key-1" }, asKey(keys.runner))).executeProgram;
      assert.equal(again.id, state.execution);
      assert.equal(await auditRows(), before, "an idempotent repeat changes nothing");
    });

    it("cancelExecution: status and finishedAt", async () => {
      const { event } = await audited(`mutation($id: ID!) { cancelExecution(id: $id) { id status } }`, { id: state.execution }, asKey(keys.runner));
      assert.equal(event.action, "execution.cancel");
      assert.equal(event.entityId, state.execution);
      assert.deepEqual(Object.keys(event.changes).sort(), ["finishedAt", "status"]);
      assert.deepEqual(event.changes.status, { before: "PENDING", after: "CANCELLED" });
      assert.equal(event.changes.finishedAt.before, null);
    });

    it("executeProgramBatch, then cancelBatch (runner): one event each, for the batch; cancelling again records nothing", async () => {
      const batchMutation = `mutation($id: ID!) { executeProgramBatch(input: { programId: $id, inputs: [{ question: "a?", n: 1 }, { question: "b?", n: 2 }], idempotencyKey: "audit-batch" }) { id total } }`;
      const created = await audited(batchMutation, { id: state.program }, asKey(keys.runner));
      const batchId = created.data.executeProgramBatch.id;
      assert.deepEqual([created.event.action, created.event.entityType, created.event.entityId], ["batch.create", "Batch", batchId]);
      assert.deepEqual(created.event.changes.total, { after: 2 });
      assert.deepEqual(created.event.changes.idempotencyKey, { after: "audit-batch" });
      const cancelled = await audited(`mutation($id: ID!) { cancelBatch(id: $id) { id status } }`, { id: batchId }, asKey(keys.runner));
      assert.deepEqual([cancelled.event.action, cancelled.event.entityId], ["batch.cancel", batchId]);
      assert.equal(cancelled.event.changes.cancelledAt.before, null);
      const before = await auditRows();
      expectData(await run(`mutation($id: ID!) { cancelBatch(id: $id) { id } }`, { id: batchId }, asKey(keys.runner)));
      expectData(await run(batchMutation, { id: state.program }, asKey(keys.runner)));
      assert.equal(await auditRows(), before, "a repeated cancel and an idempotent repeat change nothing");
    });

    it("evaluateProgram through an editor key, then cancelEvaluation: the evaluation's fields, then status and finishedAt", async () => {
      const dataset = expectData(
        await run(`mutation { createDataset(input: { name: "audit-eval-ds", examples: [{ inputs: { question: "capital of France?", n: 1 }, labels: { capital: "Paris" }, split: TEST }] }) { id } }`, {}, admin),
      ).createDataset;
      state.evaluationDataset = dataset.id;
      const versionId = expectData(await run(`query($id: ID!) { program(id: $id) { currentVersion { id } } }`, { id: state.program }, admin)).program.currentVersion.id;
      const metric = { kind: "exact_match", output: "answer", label: "capital" };
      const evaluate = `mutation($input: EvaluateProgramInput!) { evaluateProgram(input: $input) { id status } }`;
      const { data, event } = await audited(evaluate, { input: { versionId, datasetId: dataset.id, split: "TEST", metric } }, asKey(keys.editor));
      state.evaluation = data.evaluateProgram.id;
      assert.equal(event.action, "evaluation.create");
      assert.equal(event.entityType, "Evaluation");
      assert.equal(event.entityId, state.evaluation);
      assert.equal(event.actor.apiKeyId, keys.editor?.id);
      assert.deepEqual(event.changes.metric, { after: metric });
      assert.deepEqual(event.changes.status, { after: "PENDING" });
      assert.deepEqual(event.changes.datasetId, { after: dataset.id });
      assert.deepEqual(event.changes.programVersionId, { after: versionId });
      await refused("BAD_USER_INPUT", evaluate, { input: { versionId, datasetId: dataset.id, split: "TEST", metric: { ...metric, output: "nope" } } });
      await refused("FORBIDDEN", evaluate, { input: { versionId, datasetId: dataset.id, split: "TEST", metric } }, asKey(keys.runner));
      const cancelled = await audited(`mutation($id: ID!) { cancelEvaluation(id: $id) { id status } }`, { id: state.evaluation }, asKey(keys.editor));
      assert.equal(cancelled.event.action, "evaluation.cancel");
      assert.equal(cancelled.event.entityId, state.evaluation);
      assert.deepEqual(Object.keys(cancelled.event.changes).sort(), ["finishedAt", "status"]);
      assert.deepEqual(cancelled.event.changes.status, { before: "PENDING", after: "CANCELLED" });
      await refused("ILLEGAL_TRANSITION", `mutation($id: ID!) { cancelEvaluation(id: $id) { id } }`, { id: state.evaluation }, asKey(keys.editor));
    });

    it("optimizeProgram through an editor key, then cancelOptimization: the optimization's fields, then status and finishedAt", async () => {
      const metric = { kind: "exact_match", output: "answer", label: "capital" };
      const optimize = `mutation($input: OptimizeProgramInput!) { optimizeProgram(input: $input) { id status } }`;
      const input = { programId: state.program, optimizer: "LABELED_FEW_SHOT", config: { k: 1 }, datasetId: state.evaluationDataset, trainSplit: "TEST", metric };
      const { data, event } = await audited(optimize, { input }, asKey(keys.editor));
      state.optimization = data.optimizeProgram.id;
      assert.equal(event.action, "optimization.create");
      assert.equal(event.entityType, "Optimization");
      assert.equal(event.entityId, state.optimization);
      assert.equal(event.actor.apiKeyId, keys.editor?.id);
      assert.deepEqual(event.changes.optimizer, { after: "LABELED_FEW_SHOT" });
      assert.deepEqual(event.changes.config, { after: { k: 1 } });
      assert.deepEqual(event.changes.metric, { after: metric });
      assert.deepEqual(event.changes.status, { after: "PENDING" });
      await refused("BAD_USER_INPUT", optimize, { input: { ...input, config: { depth: 1 } } });
      await refused("BAD_USER_INPUT", optimize, { input: { ...input, metric: { ...metric, output: "nope" } } });
      await refused("FORBIDDEN", optimize, { input }, asKey(keys.runner));
      const cancelled = await audited(`mutation($id: ID!) { cancelOptimization(id: $id) { id status } }`, { id: state.optimization }, asKey(keys.editor));
      assert.equal(cancelled.event.action, "optimization.cancel");
      assert.equal(cancelled.event.entityId, state.optimization);
      assert.deepEqual(Object.keys(cancelled.event.changes).sort(), ["finishedAt", "status"]);
      assert.deepEqual(cancelled.event.changes.status, { before: "PENDING", after: "CANCELLED" });
      await refused("ILLEGAL_TRANSITION", `mutation($id: ID!) { cancelOptimization(id: $id) { id } }`, { id: state.optimization }, asKey(keys.editor));
    });

    it("scheduleOptimization, then unscheduleOptimization (editor): the schedule's fields, then enabled", async () => {
      const metric = { kind: "exact_match", output: "answer", label: "capital" };
      const schedule = `mutation($input: ScheduleOptimizationInput!) { scheduleOptimization(input: $input) { id enabled promote } }`;
      const input = { programId: state.program, cron: "0 3 * * 1", optimizer: "LABELED_FEW_SHOT", config: { k: 1 }, datasetId: state.evaluationDataset, trainSplit: "TEST", metric, promote: "NEVER" };
      const { data, event } = await audited(schedule, { input }, asKey(keys.editor));
      const id = data.scheduleOptimization.id;
      assert.equal(event.action, "optimization_schedule.create");
      assert.equal(event.entityType, "OptimizationSchedule");
      assert.equal(event.entityId, id);
      assert.equal(event.actor.apiKeyId, keys.editor?.id);
      assert.deepEqual(event.changes.cron, { after: "0 3 * * 1" });
      assert.deepEqual(event.changes.promote, { after: "NEVER" });
      assert.deepEqual(event.changes.enabled, { after: true });
      await refused("BAD_USER_INPUT", schedule, { input: { ...input, cron: "every monday" } });
      await refused("BAD_USER_INPUT", schedule, { input: { ...input, config: { depth: 1 } } });
      await refused("FORBIDDEN", schedule, { input }, asKey(keys.runner));
      const unscheduled = await audited(`mutation($id: ID!) { unscheduleOptimization(id: $id) { id enabled } }`, { id }, asKey(keys.editor));
      assert.equal(unscheduled.event.action, "optimization_schedule.delete");
      assert.deepEqual(unscheduled.event.changes.enabled, { before: true, after: false });
      await refused("CONFLICT", `mutation($id: ID!) { unscheduleOptimization(id: $id) { id } }`, { id }, asKey(keys.editor));
    });

    it("importProgramVersion, then promoteProgramVersion (editor): the new version, then the program's currentVersionId", async () => {
      const program = expectData(await run(CREATE_PROGRAM, { n: "audit-promote", d: predictDefinition() }, admin)).createProgram;
      const v1 = program.currentVersionId.id;
      const dspyState = {
        answerer: {
          traces: [],
          train: [],
          demos: [{ question: "capital of France?", answer: "Paris" }],
          signature: { instructions: "Answer briefly.", fields: [{ prefix: "Question:", description: "${question}" }, { prefix: "Answer:", description: "${answer}" }] },
          lm: null,
        },
        metadata: { dependency_versions: { python: "3.12", dspy: "3.4.1", cloudpickle: "3.1" } },
      };
      const importVersion = `mutation($input: ImportProgramVersionInput!) { importProgramVersion(input: $input) { id number source } }`;
      const imported = await audited(importVersion, { input: { programId: program.id, dspyState } }, asKey(keys.editor));
      const version = imported.data.importProgramVersion;
      assert.deepEqual({ number: version.number, source: version.source }, { number: 2, source: "IMPORT" });
      assert.equal(imported.event.action, "program_version.import");
      assert.equal(imported.event.entityType, "ProgramVersion");
      assert.equal(imported.event.entityId, version.id);
      assert.deepEqual(imported.event.changes.source, { after: "import" });
      await refused("BAD_USER_INPUT", importVersion, { input: { programId: program.id, dspyState: { ...dspyState, other: dspyState.answerer } } }, asKey(keys.editor));
      await refused("FORBIDDEN", importVersion, { input: { programId: program.id, dspyState } }, asKey(keys.runner));
      const promote = `mutation($v: ID!) { promoteProgramVersion(versionId: $v) { id currentVersion { id } } }`;
      const promoted = await audited(promote, { v: version.id }, asKey(keys.editor));
      assert.equal(promoted.data.promoteProgramVersion.currentVersion.id, version.id);
      assert.equal(promoted.event.action, "program.promote_version");
      assert.equal(promoted.event.entityType, "Program");
      assert.equal(promoted.event.entityId, program.id);
      assert.deepEqual(promoted.event.changes.currentVersionId, { before: v1, after: version.id });
      await refused("FORBIDDEN", promote, { v: v1 }, asKey(keys.runner));
      await refused("NOT_FOUND", promote, { v: "00000000-0000-7000-8000-000000000000" }, asKey(keys.editor));
    });

    it("setProgramLabel, then deleteProgramLabel (editor): the label's routes before and after", async () => {
      const program = expectData(await run(CREATE_PROGRAM, { n: "audit-label", d: predictDefinition() }, admin)).createProgram;
      const v1 = program.currentVersionId.id;
      const set = `mutation($input: SetProgramLabelInput!) { setProgramLabel(input: $input) { name routes { versionId weight share } } }`;
      const first = await audited(set, { input: { programId: program.id, name: "production", versionId: v1 } }, asKey(keys.editor));
      assert.deepEqual(first.data.setProgramLabel.routes, [{ versionId: v1, weight: 1, share: 1 }]);
      assert.deepEqual([first.event.action, first.event.entityType, first.event.entityId], ["program.set_label", "Program", program.id]);
      assert.deepEqual(first.event.changes.routes, { after: [{ versionId: v1, weight: 1 }] });
      const moved = await audited(set, { input: { programId: program.id, name: "production", routes: [{ versionId: v1, weight: 3 }] } }, asKey(keys.editor));
      assert.deepEqual(moved.event.changes.routes, { before: [{ versionId: v1, weight: 1 }], after: [{ versionId: v1, weight: 3 }] });
      await refused("FORBIDDEN", set, { input: { programId: program.id, name: "staging", versionId: v1 } }, asKey(keys.runner));
      await refused("BAD_USER_INPUT", set, { input: { programId: program.id, name: "Bad Name", versionId: v1 } }, asKey(keys.editor));
      const del = `mutation($p: ID!, $n: String!) { deleteProgramLabel(programId: $p, name: $n) }`;
      const deleted = await audited(del, { p: program.id, n: "production" }, asKey(keys.editor));
      assert.equal(deleted.data.deleteProgramLabel, true);
      assert.equal(deleted.event.action, "program.delete_label");
      assert.deepEqual(deleted.event.changes.label, { before: "production" });
      await refused("BAD_USER_INPUT", del, { p: program.id, n: "production" }, asKey(keys.editor));
      await refused("FORBIDDEN", del, { p: program.id, n: "production" }, asKey(keys.runner));
    });

    it("submitFeedback (runner) creates, then edits; addExamplesFromFeedback (admin) adds the corrected ones to a dataset", async () => {
      const execution = expectData(await run(`mutation($id: ID!) { executeProgram(input: { programId: $id, inputs: { question: "feedback?", n: 1 }, wait: true }) { id status } }`, { id: state.program }, admin)).executeProgram;
      assert.ok(["COMPLETED", "FAILED"].includes(execution.status), execution.status);
      const submit = `mutation($input: SubmitFeedbackInput!) { submitFeedback(input: $input) { id score comment correctedOutputs subject } }`;
      const created = await audited(submit, { input: { executionId: execution.id, score: 0.25, comment: "too long" } }, asKey(keys.runner));
      assert.deepEqual([created.event.action, created.event.entityType, created.event.entityId], ["feedback.create", "Feedback", created.data.submitFeedback.id]);
      assert.deepEqual(created.event.changes.score, { after: 0.25 });
      assert.equal(created.data.submitFeedback.subject, `api_key:${keys.runner?.id}`);
      const edited = await audited(submit, { input: { executionId: execution.id, score: 0, correctedOutputs: { answer: "Paris" } } }, asKey(keys.runner));
      assert.equal(edited.data.submitFeedback.id, created.data.submitFeedback.id, "one per execution and caller");
      assert.equal(edited.event.action, "feedback.update");
      assert.deepEqual(edited.event.changes.score, { before: 0.25, after: 0 });
      assert.deepEqual(edited.event.changes.correctedOutputs, { before: null, after: { answer: "Paris" } });
      await refused("FORBIDDEN", submit, { input: { executionId: execution.id, score: 1 } }, asKey(keys.viewer));
      await refused("BAD_USER_INPUT", submit, { input: { executionId: execution.id, score: 2 } }, asKey(keys.runner));
      const toExamples = `mutation($input: AddExamplesFromFeedbackInput!) { addExamplesFromFeedback(input: $input) { examples { inputs labels feedbackId } skipped } }`;
      const added = await audited(toExamples, { input: { datasetId: state.dataset, programId: state.program } });
      assert.deepEqual(added.data.addExamplesFromFeedback.examples.map((e: any) => e.labels.answer), ["Paris"]);
      assert.equal(added.event.action, "dataset.addExamples");
      assert.deepEqual(added.event.changes.exampleCount, { before: 3, after: 4 });
      await refused("FORBIDDEN", toExamples, { input: { datasetId: state.dataset, programId: state.program } }, asKey(keys.runner));
      await refused("NOT_FOUND", toExamples, { input: { datasetId: "00000000-0000-7000-8000-000000000000", programId: state.program } });
    });

    it("setBudget creates, then changes; deleteBudget (admin only)", async () => {
      const set = `mutation($input: SetBudgetInput!) { setBudget(input: $input) { id limitUsd } }`;
      const created = await audited(set, { input: { period: "MONTH", limitUsd: 100 } });
      assert.deepEqual([created.event.action, created.event.entityType, created.event.entityId], ["budget.create", "Budget", created.data.setBudget.id]);
      assert.deepEqual(created.event.changes.limitUsd, { after: 100 });
      const changed = await audited(set, { input: { period: "MONTH", limitUsd: 250 } });
      assert.equal(changed.data.setBudget.id, created.data.setBudget.id);
      assert.equal(changed.event.action, "budget.update");
      assert.deepEqual(changed.event.changes.limitUsd, { before: 100, after: 250 });
      await refused("FORBIDDEN", set, { input: { period: "DAY", limitUsd: 1 } }, asKey(keys.editor));
      await refused("BAD_USER_INPUT", set, { input: { period: "DAY", limitUsd: -5 } });
      const del = `mutation($id: ID!) { deleteBudget(id: $id) }`;
      await refused("FORBIDDEN", del, { id: created.data.setBudget.id }, asKey(keys.editor));
      const deleted = await audited(del, { id: created.data.setBudget.id });
      assert.equal(deleted.event.action, "budget.delete");
      assert.deepEqual(deleted.event.changes.limitUsd, { before: 250 });
      await refused("NOT_FOUND", del, { id: created.data.setBudget.id });
    });

    it("retryExecution: FAILED → PENDING, the error cleared", async () => {
      const created = expectData(await run(EXECUTE, { id: state.program, q: "to fail", key: null }, admin)).executeProgram;
      state.failed = created.id;
      // The job runner never runs here: fail it as the runner would (system transitions are not audited).
      const error = { code: "LM_ERROR", layer: "lm", message: "boom", retriable: false };
      await server()
        .database.manager.createQueryBuilder()
        .update(Execution)
        .set({ status: ExecutionStatus.FAILED, error, finishedAt: new Date() })
        .where("id = :id", { id: created.id })
        .execute();
      const { event } = await audited(`mutation($id: ID!) { retryExecution(id: $id) { id status } }`, { id: state.failed });
      assert.equal(event.action, "execution.retry");
      assert.equal(event.entityId, state.failed);
      assert.deepEqual(event.changes.status, { before: "FAILED", after: "PENDING" });
      assert.deepEqual(event.changes.error, { before: error, after: null });
      assert.equal(event.changes.finishedAt.after, null);
      assert.ok(!("maxAttempts" in event.changes), "maxAttempts did not change (no attempt ran)");
    });

    it("deleteProgram: before only; the program's trail outlives it", async () => {
      const program = expectData(await run(CREATE_PROGRAM, { n: "audit-doomed", d: predictDefinition(), lm: state.lm }, admin)).createProgram;
      const { event } = await audited(`mutation($id: ID!) { deleteProgram(id: $id) }`, { id: program.id });
      assert.equal(event.action, "program.delete");
      assert.equal(event.entityId, program.id);
      assert.deepEqual(event.changes.name, { before: "audit-doomed" });
      for (const change of Object.values(event.changes) as any[]) assert.deepEqual(Object.keys(change), ["before"]);
      const trail = await allEvents({ entityId: program.id });
      assert.deepEqual(trail.nodes.map((n: any) => n.action), ["program.create", "program.delete"]);
    });

    it("failed mutations write nothing: validation errors, NOT_FOUND, CONFLICT, illegal transitions, FORBIDDEN", async () => {
      const missing = "01900000-0000-7000-8000-000000000000";
      await refused("BAD_USER_INPUT", CREATE_PROGRAM, { n: "bad", d: { inputs: {} }, lm: state.lm });
      await refused("CONFLICT", CREATE_PROGRAM, { n: "audit-program-renamed", d: predictDefinition(), lm: state.lm });
      await refused("CONFLICT", `mutation($id: ID!) { updateProgram(input: { id: $id, name: "x", expectedVersion: 99 }) { id } }`, { id: state.program });
      await refused("NOT_FOUND", `mutation($id: ID!) { updateProgram(input: { id: $id, name: "x" }) { id } }`, { id: missing });
      await refused("CONFLICT", `mutation($id: ID!) { deleteProgram(id: $id) }`, { id: state.program }); // a PENDING execution (the retried one)
      await refused("NOT_FOUND", `mutation($id: ID!) { deleteProgram(id: $id) }`, { id: missing });
      await refused("CONFLICT", `mutation($lm: CreateLanguageModelInput!) { createLanguageModel(input: $lm) { id } }`, { lm: { name: "audit-lm", ...dummyLm({}) } });
      await refused("NOT_FOUND", `mutation($id: ID!) { updateLanguageModel(input: { id: $id, temperature: 0.1 }) { id } }`, { id: missing });
      await refused("CONFLICT", `mutation { createDataset(input: { name: "audit-ds" }) { id } }`, {});
      await refused("NOT_FOUND", `mutation($id: ID!) { addExamples(input: { datasetId: $id, examples: [{ inputs: { q: "c" } }] }) { dataset { id } } }`, { id: missing });
      await refused("BAD_USER_INPUT", `mutation($id: ID!) { addExamples(input: { datasetId: $id, examples: [] }) { dataset { id } } }`, { id: state.dataset });
      await refused("CONFLICT", EXECUTE, { id: state.program, q: "different question", key: "audit-key-1" });
      await refused("NOT_FOUND", EXECUTE, { id: missing, q: "x", key: null });
      await refused("ILLEGAL_TRANSITION", `mutation($id: ID!) { cancelExecution(id: $id) { id } }`, { id: state.execution });
      await refused("ILLEGAL_TRANSITION", `mutation($id: ID!) { retryExecution(id: $id) { id } }`, { id: state.failed });
      await refused("BAD_USER_INPUT", CREATE_KEY, { name: " ", role: "VIEWER" });
      await refused("NOT_FOUND", `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: missing });
      await refused("FORBIDDEN", CREATE_PROGRAM, { n: "viewer's", d: predictDefinition(), lm: state.lm }, asKey(keys.viewer));
      await refused("UNAUTHENTICATED", CREATE_PROGRAM, { n: "nobody's", d: predictDefinition(), lm: state.lm }, {});
    });

    it("an event is part of its change's transaction: a rollback removes both", async () => {
      const before = await auditRows();
      await assert.rejects(
        server().database.transaction(async (manager) => {
          await AuditLog.record(manager, { tenantId: "tenant-a", actor: { subject: "alice", via: "jwt" }, requestId: "rolled-back" }, { action: "program.update", entityType: "Program", entityId: state.program, after: {} });
          throw new Error("the change failed after the event was written");
        }),
        /the change failed/,
      );
      assert.equal(await auditRows(), before);
    });

    it("no secret reaches the audit table: env var names, API key secrets and hashes", async () => {
      const rows = (await server().database.dataSource.query("SELECT * FROM audit_event")) as Record<string, unknown>[];
      const text = JSON.stringify(rows);
      assert.ok(text.includes(REDACTED));
      const hashes = ((await server().database.dataSource.query("SELECT hash FROM api_key")) as { hash: string }[]).map((r) => r.hash);
      for (const secret of [SECRET_ENV, SECRET_ENV_2, ...secrets, ...hashes]) assert.ok(!text.includes(secret), `audit table contains a secret (${secret.slice(0, 8)}…)`);
    });

    it("only admins read the trail", async () => {
      for (const headers of [asKey(keys.viewer), asKey(keys.runner), asKey(keys.editor), await token("carol", "editor"), await token("dave", "viewer")]) {
        expectError(await run(AUDIT_EVENTS, {}, headers), "FORBIDDEN");
      }
      expectError(await run(AUDIT_EVENTS, {}, {}), "UNAUTHENTICATED");
      assert.ok(expectData(await run(AUDIT_EVENTS, {}, admin)).auditEvents.totalCount > 0);
    });

    it("admins filter by entity, action, actor and time, and page through", async () => {
      const actions = async (filter: Record<string, unknown>) => (await allEvents(filter)).nodes.map((n: any) => n.action);
      assert.deepEqual(await actions({ entityType: "Program", entityId: state.program }), ["program.create", "program.update"]);
      assert.deepEqual(await actions({ action: "program.update" }), ["program.update"]);
      assert.deepEqual(await actions({ actor: `api_key:${keys.editor?.id}` }), [
        "program.create",
        "evaluation.create",
        "evaluation.cancel",
        "optimization.create",
        "optimization.cancel",
        "optimization_schedule.create",
        "optimization_schedule.delete",
        "program_version.import",
        "program.promote_version",
        "program.set_label",
        "program.set_label",
        "program.delete_label",
      ]);
      assert.deepEqual(await actions({ entityType: "Dataset" }), ["dataset.create", "dataset.addExamples", "dataset.create", "dataset.addExamples"]);
      const all = await allEvents();
      assert.equal(all.nodes.length, all.totalCount);
      const middle = all.nodes[Math.floor(all.nodes.length / 2)];
      const since = await allEvents({ since: middle.at });
      assert.ok(since.nodes.every((n: any) => Date.parse(n.at) >= Date.parse(middle.at)));
      assert.ok(since.nodes.some((n: any) => n.id === middle.id));
      const until = await allEvents({ until: middle.at });
      assert.ok(until.nodes.every((n: any) => Date.parse(n.at) < Date.parse(middle.at)));
      assert.equal(since.totalCount + until.totalCount, all.totalCount);
      // Pages of 3 walk the whole trail once, in order.
      const walked: string[] = [];
      let after: string | undefined;
      for (;;) {
        const p = expectData(await run(AUDIT_EVENTS, { first: 3, after }, admin)).auditEvents;
        assert.ok(p.edges.length <= 3);
        walked.push(...p.edges.map((e: any) => e.node.id));
        if (!p.pageInfo.hasNextPage) break;
        after = p.pageInfo.endCursor;
      }
      assert.deepEqual(walked, all.nodes.map((n: any) => n.id));
      expectError(await run(AUDIT_EVENTS, { filter: {}, after: "not-a-cursor" }, admin), "BAD_USER_INPUT");
    });

    it("another tenant's admin sees none of tenant A's events", async () => {
      assert.equal((await allEvents({}, adminB)).totalCount, 0);
      assert.equal((await allEvents({ entityId: state.program }, adminB)).totalCount, 0);
      // And their own change is theirs alone.
      expectData(await run(`mutation { createDataset(input: { name: "b-ds" }) { id } }`, {}, adminB));
      assert.deepEqual((await allEvents({}, adminB)).nodes.map((n: any) => [n.action, n.actor.subject]), [["dataset.create", "bob"]]);
      assert.ok(!(await allEvents()).nodes.some((n: any) => n.actor.subject === "bob"));
    });
  },
  ENV,
);
