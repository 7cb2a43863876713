import "reflect-metadata";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { Agenda, type AgendaBackend, backoffStrategies, type JobParameters, type JobRepository } from "agenda";
import { MongoClient } from "mongodb";
import { Database } from "../src/db/Database.js";
import { AppError } from "../src/errors.js";
import { createJobBackend } from "../src/jobs/createJobBackend.js";
import { createScratchDatabase, databaseTargets } from "./support/harness.js";
import { mongoTestUrl, scratchMongoDatabase } from "./support/mongo.js";

/**
 * One conformance suite for every job store: the JobRepository directly, and real Agenda instances
 * on it. SQL on SQLite always, SQL on MariaDB with TEST_MYSQL_URL, MongoDB (FerretDB) with
 * TEST_MONGO_URL. Timings are measured and printed; only generous bounds are asserted.
 */

interface OpenStore {
  backend(notifications: boolean): Promise<AgendaBackend>;
  /**
   * Whether claiming a job is atomic across instances. False on FerretDB v1: its findAndModify
   * queries, then updates the found document by _id without re-checking the filter
   * (internal/handler/msg_findandmodify.go), so two instances can lock the same job. MongoDB's
   * findAndModify is atomic per document; the SQL store's conditional UPDATE is too.
   */
  atomicLocking: boolean;
  close(): Promise<void>;
}

interface StoreTarget {
  name: string;
  kind: "sql" | "mongo";
  open(): Promise<OpenStore>;
}

function storeTargets(): StoreTarget[] {
  const targets: StoreTarget[] = databaseTargets().map((db) => ({
    name: `sql-${db.name}`,
    kind: "sql",
    async open() {
      const scratch = await createScratchDatabase(db);
      const database = await Database.open({ databaseUrl: scratch.databaseUrl, sqlitePath: ":memory:" });
      return {
        atomicLocking: true,
        backend: (notifications) => createJobBackend({ database, notifications }),
        async close() {
          await database.close();
          await scratch.drop();
        },
      };
    },
  }));
  const mongoUrl = mongoTestUrl();
  if (mongoUrl) {
    targets.push({
      name: "mongo-ferretdb",
      kind: "mongo",
      async open() {
        const scratch = scratchMongoDatabase(mongoUrl);
        // createJobBackend takes the product database in any case; with a mongoUrl it is not used.
        const database = await Database.open({ sqlitePath: ":memory:" });
        const ferretdbVersion = await ferretdbVersionAt(scratch.url);
        return {
          atomicLocking: ferretdbVersion === undefined,
          backend: (notifications) => createJobBackend({ mongoUrl: scratch.url, database, notifications }),
          async close() {
            await database.close();
            await scratch.drop();
          },
        };
      },
    });
  }
  return targets;
}

/** The FerretDB version of the server at `url`, or undefined for MongoDB itself. */
async function ferretdbVersionAt(url: string): Promise<string | undefined> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    const info = await client.db().admin().command({ buildInfo: 1 });
    return typeof info.ferretdbVersion === "string" ? info.ferretdbVersion : undefined;
  } finally {
    await client.close();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const ms = (n: number) => `${n.toFixed(1)} ms`;

function newJob(name: string, fields: Partial<JobParameters> = {}): JobParameters {
  return { name, priority: 0, nextRunAt: new Date(), type: "normal", data: {}, ...fields };
}

for (const target of storeTargets()) {
  describe(`job store [${target.name}]`, function () {
    this.timeout(60_000);
    let store: OpenStore;
    let repoBackend: AgendaBackend;
    let repo: JobRepository;
    const started: { agenda: Agenda; backend: AgendaBackend }[] = [];

    before(async () => {
      store = await target.open();
      repoBackend = await store.backend(false);
      await repoBackend.connect();
      repo = repoBackend.repository;
    });

    afterEach(async () => {
      for (const { agenda, backend } of started.splice(0)) {
        await agenda.drain({ timeout: 5000 });
        await backend.disconnect();
      }
      await repo.purgeAllJobs();
    });

    after(async () => {
      await repoBackend?.disconnect();
      await store?.close();
    });

    /** An Agenda instance on its own backend; small lock lifetimes keep Agenda's liveness timers short. */
    async function agendaOn(options: { notifications?: boolean; processEvery?: number; name?: string; start?: boolean; define?: (agenda: Agenda) => void } = {}): Promise<Agenda> {
      const backend = await store.backend(options.notifications ?? true);
      const agenda = new Agenda({ backend, processEvery: options.processEvery ?? 5000, name: options.name, defaultLockLifetime: 2000 });
      started.push({ agenda, backend });
      options.define?.(agenda);
      if (options.start ?? true) await agenda.start();
      return agenda;
    }

    it("inserts, reads and updates a job, keeping millisecond dates and JSON data", async () => {
      const at = new Date(Date.UTC(2031, 4, 6, 7, 8, 9, 123));
      const saved = await repo.saveJob(newJob("save-1", { priority: 5, nextRunAt: at, data: { x: 1, nested: { y: [1, 2], s: "é" } } }), { lastModifiedBy: "me" });
      assert.ok(saved._id);
      const read = await repo.getJobById(String(saved._id));
      assert.ok(read);
      assert.equal(read.name, "save-1");
      assert.equal(read.priority, 5);
      assert.equal(read.nextRunAt?.getTime(), at.getTime());
      assert.deepEqual(read.data, { x: 1, nested: { y: [1, 2], s: "é" } });
      assert.equal(read.lastModifiedBy, "me");
      assert.equal(read.type, "normal");

      const updated = await repo.saveJob({ ...read, data: { x: 2 }, priority: 1 }, undefined);
      assert.equal(String(updated._id), String(saved._id));
      assert.deepEqual(updated.data, { x: 2 });
      assert.equal((await repo.queryJobs({ name: "save-1" })).total, 1);

      const lockedAt = new Date(Date.now() - 1234);
      await repo.saveJobState({ ...updated, lockedAt, progress: 50, failCount: 2, failReason: "boom" }, undefined);
      const state = await repo.getJobById(String(saved._id));
      assert.equal(state?.lockedAt?.getTime(), lockedAt.getTime());
      assert.equal(state?.progress, 50);
      assert.equal(state?.failCount, 2);
      assert.equal(state?.failReason, "boom");

      assert.equal(await repo.getJobById("0123456789abcdef01234567"), null);
      await repo.removeJobs({ id: saved._id });
      await assert.rejects(repo.saveJobState({ ...updated }, undefined), /no longer this instance's: it was removed, or another instance holds it now/);
      // Saving a job that is gone gives its data back unchanged and inserts nothing.
      const gone = await repo.saveJob({ ...updated, data: { x: 3 } }, undefined);
      assert.deepEqual(gone.data, { x: 3 });
      assert.equal((await repo.queryJobs({ name: "save-1" })).total, 0);
    });

    it("locks like MongoJobRepository: order, lock deadline, lockJob, unlockJob, unlockJobs, disabled", async () => {
      const base = Date.now() - 10_000;
      const late = await repo.saveJob(newJob("lock-1", { nextRunAt: new Date(base + 2) }), undefined);
      const lowPriority = await repo.saveJob(newJob("lock-1", { nextRunAt: new Date(base + 1), priority: 0 }), undefined);
      const highPriority = await repo.saveJob(newJob("lock-1", { nextRunAt: new Date(base + 1), priority: 10 }), undefined);
      const future = await repo.saveJob(newJob("lock-1", { nextRunAt: new Date(Date.now() + 60_000) }), undefined);
      const scan = () => repo.getNextJobToRun("lock-1", new Date(Date.now() + 1000), new Date(Date.now() - 60_000), undefined, { lastModifiedBy: "t" });

      // nextRunAt ascending (1 ms apart), then priority descending; the future job is not due.
      assert.equal(String((await scan())?._id), String(highPriority._id));
      assert.equal(String((await scan())?._id), String(lowPriority._id));
      const third = await scan();
      assert.equal(String(third?._id), String(late._id));
      assert.ok(third?.lockedAt);
      assert.equal(third?.lastModifiedBy, "t");
      assert.equal(await scan(), undefined);

      // An expired lock (older than the deadline) is lockable again.
      const expired = await repo.getNextJobToRun("lock-1", new Date(Date.now() + 1000), new Date(Date.now() + 1), undefined, undefined);
      assert.ok(expired, "an expired lock is taken over");

      // lockJob: only an unlocked job whose nextRunAt is unchanged.
      const fresh = await repo.getJobById(String(future._id));
      assert.ok(fresh);
      assert.equal(await repo.lockJob({ ...fresh, nextRunAt: new Date(0) }, undefined), undefined);
      const locked = await repo.lockJob(fresh, undefined);
      assert.ok(locked?.lockedAt);
      assert.equal(await repo.lockJob(fresh, undefined), undefined);

      // unlockJob leaves jobs being processed (nextRunAt null) alone; unlockJobs does not.
      await repo.saveJobState({ ...locked, nextRunAt: null }, undefined);
      await repo.unlockJob(locked);
      assert.ok((await repo.getJobById(String(locked._id)))?.lockedAt);
      await repo.saveJobState({ ...locked, nextRunAt: new Date() }, undefined);
      await repo.unlockJob(locked);
      assert.equal((await repo.getJobById(String(locked._id)))?.lockedAt, undefined);
      await repo.saveJobState({ ...locked, lockedAt: new Date(), nextRunAt: null }, undefined);
      await repo.unlockJobs([locked._id!, highPriority._id!]);
      assert.equal((await repo.getJobById(String(locked._id)))?.lockedAt, undefined);
      assert.equal((await repo.getJobById(String(highPriority._id)))?.lockedAt, undefined);

      // Disabled jobs are never handed out.
      const disabled = await repo.saveJob(newJob("lock-2", { disabled: true }), undefined);
      assert.equal(await repo.getNextJobToRun("lock-2", new Date(Date.now() + 1000), new Date(0), undefined, undefined), undefined);
      assert.equal(await repo.lockJob(disabled, undefined), undefined);
    });

    it("lets only the holder save a job's state: a claim overtaken by another instance can neither renew nor unlock it", async () => {
      await repo.saveJob(newJob("held-1", { nextRunAt: new Date(Date.now() - 1000) }), { lastModifiedBy: "enqueuer" });
      const claim = (holder: string, lockDeadline: Date) => repo.getNextJobToRun("held-1", new Date(Date.now() + 1000), lockDeadline, undefined, { lastModifiedBy: holder });
      const first = await claim("instance-a", new Date(Date.now() - 60_000));
      assert.ok(first?.lockedAt);
      await repo.saveJobState({ ...first, progress: 10 }, { lastModifiedBy: "instance-a" });
      // instance-a stalls; its lock counts as expired and instance-b takes the job over.
      const second = await claim("instance-b", new Date(Date.now() + 1));
      assert.equal(String(second?._id), String(first._id));
      const renewal = { ...first, lockedAt: new Date(Date.now() + 5_000), progress: 99 };
      await assert.rejects(repo.saveJobState(renewal, { lastModifiedBy: "instance-a" }), /no longer this instance's/);
      await assert.rejects(repo.saveJobState({ ...first, lockedAt: undefined }, { lastModifiedBy: "instance-a" }), /no longer this instance's/);
      const stored = await repo.getJobById(String(first._id));
      assert.equal(stored?.lastModifiedBy, "instance-b");
      assert.equal(stored?.lockedAt?.getTime(), second?.lockedAt?.getTime(), "instance-a's renewal and unlock changed nothing");
      assert.notEqual(stored?.progress, 99);
      await repo.saveJobState({ ...second!, progress: 50 }, { lastModifiedBy: "instance-b" });
      assert.equal((await repo.getJobById(String(first._id)))?.progress, 50);
    });

    it("starts a job saved with agenda.now() at once with the notification channel, and only on the poll without it", async function () {
      const runs = new Map<number, number>();
      const define = (agenda: Agenda) =>
        agenda.define<{ k: number }>("latency", async (job) => {
          runs.set(job.attrs.data.k, performance.now());
        });

      // With the channel; processEvery 5 s, so a poll cannot explain a fast start.
      const fast = await agendaOn({ notifications: true, processEvery: 5000, define });
      await sleep(50);
      const withChannel: number[] = [];
      for (let k = 0; k < 10; k++) {
        const t0 = performance.now();
        await fast.now("latency", { k });
        await waitFor(() => runs.has(k), 2000, `job ${k} to start`);
        withChannel.push(runs.get(k)! - t0);
      }
      await fast.drain({ timeout: 5000 });

      // Without it: the job waits for the next poll (processEvery 1 s, saved right after a poll).
      const processEvery = 1000;
      const slow = await agendaOn({ notifications: false, processEvery, define });
      const withoutChannel: number[] = [];
      await sleep(20);
      for (let k = 100; k < 103; k++) {
        const t0 = performance.now();
        await slow.now("latency", { k });
        await waitFor(() => runs.has(k), processEvery * 3, `job ${k} to start on the poll`);
        withoutChannel.push(runs.get(k)! - t0);
      }
      console.log(
        `      enqueue→start [${target.name}]: with channel p50 ${ms(median(withChannel))}, max ${ms(Math.max(...withChannel))} (n=10); ` +
          `without (processEvery ${processEvery} ms): ${withoutChannel.map(ms).join(", ")}`,
      );
      assert.ok(Math.max(...withChannel) < 1000, `with the channel every job starts well before the 5 s poll (${withChannel.map(ms)})`);
      assert.ok(median(withChannel) < 250, `with the channel the median start is immediate (${ms(median(withChannel))})`);
      for (const latency of withoutChannel) {
        assert.ok(latency > processEvery / 4, `without the channel a job waits for the poll (${ms(latency)})`);
        assert.ok(latency < processEvery * 2.5, `without the channel the next poll starts it (${ms(latency)})`);
      }
    });

    it("runs each job exactly once with two Agenda instances on the same store", async function () {
      const runs = new Map<number, string[]>();
      const define = (instance: string) => (agenda: Agenda) =>
        agenda.define<{ k: number }>(
          "twice",
          async (job) => {
            runs.set(job.attrs.data.k, [...(runs.get(job.attrs.data.k) ?? []), instance]);
            await sleep(10);
          },
          // Each instance holds at most 5 jobs, so neither can take them all and both race for the rest.
          { concurrency: 5, lockLimit: 5 },
        );
      for (let k = 0; k < 50; k++) await repo.saveJob(newJob("twice", { data: { k } }), undefined);
      const [a] = await Promise.all([
        agendaOn({ name: "a", processEvery: 100, define: define("a") }),
        agendaOn({ name: "b", processEvery: 100, define: define("b") }),
      ]);
      // More while both run: the notification reaches a only, b races on its poll.
      for (let k = 50; k < 75; k++) await a.now("twice", { k });
      await waitFor(() => runs.size === 75, 30_000, "75 jobs to run");
      await sleep(400);
      const duplicates = [...runs.entries()].filter(([, by]) => by.length !== 1);
      const byInstance = { a: 0, b: 0 };
      for (const [, [by]] of runs) byInstance[by as "a" | "b"]++;
      if (!store.atomicLocking) {
        // FerretDB v1 (see OpenStore.atomicLocking): no job is lost, but some may run twice.
        console.log(`      two instances [${target.name}]: 75 jobs all ran; ${duplicates.length} ran more than once (non-atomic findAndModify of FerretDB v1)`);
        return;
      }
      assert.deepEqual(duplicates, [], "no job ran twice");
      console.log(`      two instances [${target.name}]: 75 jobs, each ran once; a ran ${byInstance.a}, b ran ${byInstance.b}`);
    });

    it("picks up a job whose lock expired (an instance died holding it)", async () => {
      await repo.saveJob(newJob("orphan"), undefined);
      const lockedAt = Date.now();
      const dead = await repo.getNextJobToRun("orphan", new Date(Date.now() + 1000), new Date(Date.now() - 60_000), undefined, { lastModifiedBy: "dead" });
      assert.ok(dead, "the dead instance locked it");
      const lockLifetime = 600;
      let ranAt: number | undefined;
      await agendaOn({
        processEvery: 100,
        define: (agenda) =>
          agenda.define(
            "orphan",
            async () => {
              ranAt = Date.now();
            },
            { lockLifetime },
          ),
      });
      await waitFor(() => ranAt !== undefined, 10_000, "the orphaned job to run");
      const after = ranAt! - lockedAt;
      console.log(`      expired lock [${target.name}]: lockLifetime ${lockLifetime} ms, taken over after ${after} ms`);
      assert.ok(after >= lockLifetime - 50, `not before the lock expired (${after} ms)`);
    });

    it("retries a failing job with the definition's backoff", async () => {
      const attempts: number[] = [];
      const agenda = await agendaOn({
        processEvery: 100,
        define: (a) =>
          a.define(
            "flaky",
            async () => {
              attempts.push(Date.now());
              if (attempts.length < 3) throw new Error(`flaky ${attempts.length}`);
            },
            { backoff: backoffStrategies.constant({ delay: 50, maxRetries: 5 }) },
          ),
      });
      let succeeded = false;
      agenda.on("success:flaky", () => (succeeded = true));
      const job = await agenda.now("flaky", {});
      await waitFor(() => succeeded, 10_000, "the third attempt to succeed");
      // On a store without atomic claims (FerretDB v1) a poll and a notification may both take an attempt.
      if (store.atomicLocking) assert.equal(attempts.length, 3);
      else assert.ok(attempts.length >= 3);
      await sleep(100);
      const stored = await repo.getJobById(String(job.attrs._id));
      assert.ok(stored?.lastFinishedAt);
      assert.ok(stored?.failedAt, "the failures were recorded");
      assert.equal(stored?.failReason, "flaky 2");
      assert.ok(!stored?.failCount, "a success resets the failure count");
      assert.equal(stored?.lockedAt, undefined);
    });

    it("keeps one row per name for 'single' jobs (agenda.every)", async () => {
      const agenda = await agendaOn({ start: false });
      await agenda.every("1 hour", "tick", { v: 1 });
      await agenda.every("1 hour", "tick", { v: 2 });
      const { jobs, total } = await repo.queryJobs({ name: "tick" });
      assert.equal(total, 1);
      assert.equal(jobs[0].type, "single");
      assert.deepEqual(jobs[0].data, { v: 2 });
      assert.equal(jobs[0].repeatInterval, "1 hour");
      if (target.kind === "sql") {
        // Two instances at once: the uniqueKey column turns the second insert into an update.
        const other = await agendaOn({ start: false });
        await Promise.all([agenda.every(5000, "tock"), other.every(5000, "tock"), agenda.every(5000, "tock")]);
        const tock = await repo.queryJobs({ name: "tock" });
        assert.equal(tock.total, 1);
        assert.equal(tock.jobs[0].repeatInterval, 5000);
      }
    });

    it("honours unique constraints with insertOnly", async () => {
      const agenda = await agendaOn({ start: false });
      const later = new Date(Date.now() + 3_600_000);
      const save = (data: { executionId: string; n: number }, insertOnly: boolean) =>
        agenda.create("execute", data).unique({ "data.executionId": data.executionId }, { insertOnly }).schedule(later).save();
      const first = await save({ executionId: "e1", n: 1 }, true);
      const again = await save({ executionId: "e1", n: 2 }, true);
      assert.equal(String(again.attrs._id), String(first.attrs._id));
      let rows = await repo.queryJobs({ name: "execute" });
      assert.equal(rows.total, 1);
      assert.deepEqual(rows.jobs[0].data, { executionId: "e1", n: 1 });

      await save({ executionId: "e1", n: 3 }, false);
      rows = await repo.queryJobs({ name: "execute" });
      assert.equal(rows.total, 1);
      assert.deepEqual(rows.jobs[0].data, { executionId: "e1", n: 3 });

      await save({ executionId: "e2", n: 4 }, true);
      assert.equal((await repo.queryJobs({ name: "execute" })).total, 2);
    });

    it("queries, disables, enables and removes jobs", async () => {
      const past = new Date(Date.now() - 1000);
      const future = new Date(Date.now() + 3_600_000);
      for (let i = 0; i < 3; i++) await repo.saveJob(newJob("report-daily", { nextRunAt: past, priority: i, data: { group: "a", i } }), undefined);
      for (let i = 0; i < 2; i++) await repo.saveJob(newJob("mail-weekly", { nextRunAt: future, data: { group: "b", i, tags: ["x", "y"] } }), undefined);

      assert.equal((await repo.queryJobs()).total, 5);
      assert.equal((await repo.queryJobs({ name: "report-daily" })).total, 3);
      assert.equal((await repo.queryJobs({ names: ["report-daily", "mail-weekly"] })).total, 5);
      assert.equal((await repo.queryJobs({ search: "WEEK" })).total, 2);
      assert.equal((await repo.queryJobs({ search: "%" })).total, 0);
      assert.equal((await repo.queryJobs({ data: { group: "b" } })).total, 2);
      assert.equal((await repo.queryJobs({ data: { tags: "x" } })).total, 2);
      assert.equal((await repo.queryJobs({ state: "queued" })).total, 3);
      assert.equal((await repo.queryJobs({ state: "scheduled" })).total, 2);
      const page = await repo.queryJobs({ name: "report-daily", sort: { priority: "desc" }, skip: 1, limit: 1 });
      assert.equal(page.total, 3);
      assert.deepEqual(page.jobs.map((j) => j.priority), [1]);
      assert.equal(page.jobs[0].state, "queued");
      const one = (await repo.queryJobs({ name: "mail-weekly" })).jobs[0];
      assert.equal((await repo.queryJobs({ id: String(one._id) })).total, 1);

      assert.deepEqual((await repo.getDistinctJobNames()).sort(), ["mail-weekly", "report-daily"]);
      assert.equal(await repo.getQueueSize(), 3);

      assert.equal(await repo.disableJobs({ name: "report-daily" }), 3);
      assert.equal(await repo.disableJobs({ name: "report-daily" }), 0, "already disabled: nothing modified");
      assert.equal((await repo.queryJobs({ includeDisabled: false })).total, 2);
      assert.equal((await repo.queryJobs({ state: "paused" })).total, 3);
      assert.equal(await repo.getNextJobToRun("report-daily", new Date(Date.now() + 1000), new Date(0), undefined, undefined), undefined);
      const overview = (await repo.getJobsOverview()).find((o) => o.name === "report-daily");
      assert.equal(overview?.total, 3);
      assert.equal(overview?.paused, 3);
      assert.equal(await repo.enableJobs({ name: "report-daily" }), 3);
      assert.ok(await repo.getNextJobToRun("report-daily", new Date(Date.now() + 1000), new Date(0), undefined, undefined));

      assert.equal(await repo.removeJobs({}), 0, "no criteria: nothing removed");
      assert.equal(await repo.removeJobs({ data: { group: "b" } }), 2);
      assert.equal(await repo.removeJobs({ notNames: ["report-daily"] }), 0);
      assert.equal(await repo.removeJobs({ names: ["report-daily"] }), 3);
      await repo.saveJob(newJob("left"), undefined);
      assert.equal(await repo.purgeAllJobs(), 1);
      assert.equal((await repo.queryJobs()).total, 0);
    });
  });
}

describe("job backend configuration", function () {
  this.timeout(30_000);
  let database: Database;
  before(async () => {
    database = await Database.open({ sqlitePath: ":memory:" });
  });
  after(async () => {
    await database?.close();
  });

  it("turns an unreachable MONGO_URL into BAD_CONFIG naming the URL without credentials, with no unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      await assert.rejects(
        createJobBackend({ mongoUrl: "mongodb://agenda:s3cret@127.0.0.1:1/jobs?authSource=admin", database, serverSelectionTimeoutMS: 1000 }),
        (error: unknown) => {
          assert.ok(error instanceof AppError, String(error));
          assert.equal(error.code, "BAD_CONFIG");
          assert.equal(error.layer, "scheduler");
          assert.match(error.message, /mongodb:\/\/127\.0\.0\.1:1\/jobs/);
          assert.doesNotMatch(error.message, /s3cret|agenda:/);
          return true;
        },
      );
      await assert.rejects(createJobBackend({ mongoUrl: "not a url", database }), (error: unknown) => error instanceof AppError && error.code === "BAD_CONFIG");
      await sleep(100);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    assert.deepEqual(unhandled, []);
  });

  it("uses the embedded SQL store without MONGO_URL", async () => {
    const backend = await createJobBackend({ database });
    assert.equal(backend.name, "SQL");
    assert.ok(backend.notificationChannel);
    assert.equal((await createJobBackend({ database, notifications: false })).notificationChannel, undefined);
  });
});
