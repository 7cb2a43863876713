import assert from "node:assert/strict";
import { expectData, graphql } from "./support/graphql.js";
import { type TestServer, databaseTargets, startTestServer } from "./support/harness.js";
import { createProgram, dummyLm } from "./support/stacks.js";

/**
 * Evaluations and optimizations hold a lease while RUNNING, as executions do (src/state/lease.ts): a
 * second job for a run whose holder is alive leaves it alone until the lease expires, then takes it
 * over. Before, any job that found its run RUNNING restarted it at once (a double run) and, done,
 * removed the job the holder still needed.
 */
for (const target of databaseTargets()) {
  describe(`run leases for evaluations and optimizations [${target.name}]`, function () {
    this.timeout(60_000);
    let server: TestServer | undefined;
    let versionId = "";
    let programId = "";
    let datasetId = "";
    const metric = { kind: "exact_match", output: "answer", label: "answer" };
    before(async () => {
      server = await startTestServer(target, { JOB_LOCK_LIFETIME_MS: "1500", JOB_POLL_MS: "200" });
      ({ versionId, programId } = await createProgram(server.url, "leased", dummyLm({ "capital of France": { answer: "Paris" } })));
      const examples = [{ inputs: { question: "capital of France?", n: 1 }, labels: { answer: "Paris" }, split: "TRAIN" }];
      datasetId = expectData(await graphql(server.url, `mutation($e: [ExampleInput!]) { createDataset(input: { name: "leased", examples: $e }) { id } }`, { e: examples })).createDataset.id;
    });
    after(async () => server?.stop());

    const kinds = [
      {
        table: "evaluation",
        start: async () =>
          expectData(await graphql(server!.url, `mutation($i: EvaluateProgramInput!) { evaluateProgram(input: $i) { id } }`, { i: { versionId, datasetId, split: "TRAIN", metric } })).evaluateProgram.id as string,
        status: async (id: string) => expectData(await graphql(server!.url, `query($id: ID!) { evaluation(id: $id) { status } }`, { id })).evaluation.status as string,
        enqueue: (id: string, tenantId: string) => server!.jobs.enqueueEvaluation({ evaluationId: id, tenantId }),
      },
      {
        table: "optimization",
        start: async () =>
          expectData(
            await graphql(server!.url, `mutation($i: OptimizeProgramInput!) { optimizeProgram(input: $i) { id } }`, {
              i: { programId, optimizer: "LABELED_FEW_SHOT", config: { k: 1 }, datasetId, trainSplit: "TRAIN", metric },
            }),
          ).optimizeProgram.id as string,
        status: async (id: string) => expectData(await graphql(server!.url, `query($id: ID!) { optimization(id: $id) { status } }`, { id })).optimization.status as string,
        enqueue: (id: string, tenantId: string) => server!.jobs.enqueueOptimization({ optimizationId: id, tenantId }),
      },
    ];

    for (const kind of kinds) {
      it(`${kind.table}: a second job leaves a RUNNING one alone while its lease lives, then takes it over`, async () => {
        const id = await kind.start();
        for (const until = Date.now() + 20_000; !["COMPLETED", "FAILED"].includes(await kind.status(id)) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
        assert.equal(await kind.status(id), "COMPLETED");
        // As if another instance were running it now, holding a lease for 3 s more.
        const leaseUntil = new Date(Date.now() + 3_000);
        await server!.database.dataSource
          .createQueryBuilder()
          .update(kind.table)
          .set({ status: "RUNNING", finishedAt: null, leaseExpiresAt: leaseUntil })
          .where("id = :id", { id })
          .execute();
        const [{ version, tenantId }] = (await server!.database.dataSource.query(`SELECT version, tenantId FROM ${kind.table} WHERE id = ?`, [id])) as { version: number; tenantId: string }[];
        await kind.enqueue(id, tenantId);
        await new Promise((r) => setTimeout(r, 1_500));
        const [held] = (await server!.database.dataSource.query(`SELECT status, version FROM ${kind.table} WHERE id = ?`, [id])) as { status: string; version: number }[];
        assert.deepEqual([held.status, Number(held.version)], ["RUNNING", Number(version)], "left alone while its holder's lease lives");
        for (const until = Date.now() + 20_000; (await kind.status(id)) !== "COMPLETED" && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
        assert.equal(await kind.status(id), "COMPLETED", "taken over once the lease expired");
        assert.ok(Date.now() >= leaseUntil.getTime());
      });
    }
  });
}
