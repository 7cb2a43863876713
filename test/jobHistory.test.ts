import assert from "node:assert/strict";
import { expectData, graphql } from "./support/graphql.js";
import { describeEachDatabase } from "./support/harness.js";
import { createProgram, dummyLm } from "./support/stacks.js";

describeEachDatabase(
  "job history (JOB_HISTORY_MS)",
  (server) => {
    it("keeps a finished job in the store for its history, then purges it", async () => {
      const program = await createProgram(server().url, "history", dummyLm({ France: { answer: "Paris" } }));
      const done = expectData(await graphql(server().url, `mutation($p: ID!) { executeProgram(input: { programId: $p, inputs: { question: "capital of France?", n: 1 }, wait: true }) { status } }`, { p: program.programId })).executeProgram;
      assert.equal(done.status, "COMPLETED");
      // The job ends just after the execution's terminal transition.
      let kept = 0;
      for (let i = 0; i < 150 && kept === 0; i++) {
        kept = await server().jobs.countJobs(undefined, "completed");
        if (kept === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(kept, 1, "the finished job stays, completed, for Agendash to show");
      assert.equal(await server().jobs.purgeHistory(), 0, "not yet older than the history");
      assert.equal(await server().jobs.purgeHistory(Date.now() + 60_001), 1);
      assert.equal(await server().jobs.countJobs(), 0);
    });
  },
  { JOB_HISTORY_MS: "60000" },
);
