import { createHash } from "node:crypto";
import {
  computeJobState,
  type JobId,
  type JobParameters,
  type JobRepository,
  type JobRepositoryOptions,
  type JobsOverview,
  type JobsQueryOptions,
  type JobsResult,
  type JobsSort,
  type JobWithState,
  type RemoveJobsOptions,
  toJobId,
} from "agenda";
import type { EntityManager, SelectQueryBuilder } from "typeorm";
import { AgendaJob } from "../../entities/AgendaJob.js";
import { canonicalJson } from "../canonicalJson.js";
import type { Database } from "../db/Database.js";
import { isUniqueViolation } from "../db/dialect.js";
import { findRow } from "../db/findRow.js";
import { insertRow, removeRows, row, updateRows } from "../db/rows.js";
import { lostJob } from "./holder.js";
import { newId } from "../ids.js";

/** The lockable condition of `getNextJobToRun`, exactly as MongoJobRepository states it. */
const LOCKABLE = "(j.lockedAt IS NULL AND j.nextRunAt <= :nextScanAt) OR j.lockedAt <= :lockDeadline";
/** Candidates looked at per round of `getNextJobToRun` before looking again. */
const CANDIDATES_PER_ROUND = 8;
/** Rounds of `getNextJobToRun` when every candidate was taken by another instance in between. */
const MAX_ROUNDS = 20;
/** Attempts of a save that lost an insert race on `uniqueKey` (another instance inserted first). */
const SAVE_ATTEMPTS = 3;
/** Ids per `IN (...)` list. */
const CHUNK = 500;

type Row = AgendaJob;
type JobProps = Omit<JobParameters, "_id" | "unique" | "uniqueOpts">;

/**
 * Agenda's `JobRepository` on the product's relational database (table `agenda_job`), for SQLite
 * (the embedded default) and MySQL/MariaDB alike. It follows `MongoJobRepository` of
 * `@agendajs/mongo-backend` method by method; where MongoDB has `findOneAndUpdate`, this store
 * selects candidate ids and then claims one with a conditional UPDATE that repeats the condition
 * (affected 1 = won; 0 = another instance won, try the next one). No SELECT … FOR UPDATE.
 *
 * Every write goes through `database.transaction`: SQLite has a single connection and a write
 * issued outside a transaction while another one is open would become part of it.
 *
 * Not supported: debounced jobs (`uniqueOpts.debounce`) and `unique` constraints with query
 * operators (`{ "data.n": { $gt: 1 } }`); both throw a clear error. A `unique` constraint is a set
 * of field paths and values ("data.executionId"), matched in JS over the jobs of that name, with a
 * unique `uniqueKey` column against concurrent inserts.
 */
export class SqlJobRepository implements JobRepository {
  constructor(private readonly database: Database) {}

  /** The table exists once the Database is open (migrations); nothing to connect. */
  async connect(): Promise<void> {}

  async getJobById(id: string): Promise<JobParameters | null> {
    const found = await findRow(this.database.manager, AgendaJob, { id: String(id) });
    return found ? toParams(found) : null;
  }

  async queryJobs(options: JobsQueryOptions = {}): Promise<JobsResult> {
    const { name, names, state, id, ids, search, data, includeDisabled = true, sort, skip = 0, limit = 0 } = options;
    const now = new Date();
    const qb = this.select(this.database.manager);
    if (typeof search === "string" && search.length > 0) {
      // As in MongoDB, a search replaces the name filter.
      qb.andWhere("LOWER(j.name) LIKE :search ESCAPE '!'", { search: `%${escapeLike(search.toLowerCase())}%` });
    } else if (typeof name === "string" && name) {
      qb.andWhere("j.name = :name", { name });
    } else if (Array.isArray(names) && names.filter(isString).length > 0) {
      qb.andWhere("j.name IN (:...names)", { names: names.filter(isString) });
    }
    if (typeof id === "string" && id) qb.andWhere("j.id = :id", { id });
    else if (Array.isArray(ids) && ids.filter(isString).length > 0) qb.andWhere("j.id IN (:...ids)", { ids: ids.filter(isString) });
    if (!includeDisabled) qb.andWhere("j.disabled = :no", { no: false });

    const order = sortKeys(sort);
    const inMemory = state !== undefined || data !== undefined || order.some(([key]) => key === "data");
    if (!inMemory) {
      for (const [key, direction] of order) qb.addOrderBy(`j.${key}`, direction === "asc" ? "ASC" : "DESC");
      qb.addOrderBy("j.id", "ASC");
      const total = await qb.getCount();
      if (skip > 0) qb.offset(skip);
      if (limit > 0) qb.limit(limit);
      if (skip > 0 && limit <= 0) qb.limit(Number.MAX_SAFE_INTEGER); // OFFSET needs a LIMIT on MySQL
      const jobs = (await qb.getMany()).map((found) => withState(toParams(found), now));
      return { jobs, total };
    }

    // Data filters, data order and computed states are evaluated here, then paginated.
    let jobs = (await qb.getMany())
      .map((found) => withState(toParams(found), now))
      .filter((job) => data === undefined || matchesData(job.data, data))
      .filter((job) => state === undefined || (state === "paused" ? job.disabled === true : job.state === state));
    jobs.sort(compareBy(order));
    const total = jobs.length;
    jobs = jobs.slice(skip, limit > 0 ? skip + limit : undefined);
    return { jobs, total };
  }

  async getJobsOverview(): Promise<JobsOverview[]> {
    const now = new Date();
    const byName = new Map<string, JobsOverview>();
    for (const found of await this.database.manager.find(AgendaJob, { order: { name: "ASC" } })) {
      const job = toParams(found);
      let overview = byName.get(job.name);
      if (!overview) {
        overview = { name: job.name, total: 0, running: 0, scheduled: 0, queued: 0, completed: 0, failed: 0, repeating: 0, paused: 0 };
        byName.set(job.name, overview);
      }
      overview.total++;
      overview[computeJobState(job, now)]++;
      if (job.disabled === true) overview.paused++;
    }
    return [...byName.values()];
  }

  async getDistinctJobNames(): Promise<string[]> {
    const rows = await this.database.manager.createQueryBuilder(AgendaJob, "j").select("j.name", "name").distinct(true).orderBy("j.name", "ASC").getRawMany<{ name: string }>();
    return rows.map((r) => r.name);
  }

  async getQueueSize(): Promise<number> {
    return this.select(this.database.manager).where("j.nextRunAt < :now", { now: new Date() }).getCount();
  }

  async removeJobs(options: RemoveJobsOptions): Promise<number> {
    if (isOnlyId(options)) {
      // One job by id (Job.remove(), e.g. a completed one): one statement, nothing to read first.
      const result = await this.database.transaction((m) => m.createQueryBuilder().delete().from(AgendaJob).where("id = :id", { id: String(options.id) }).execute());
      return result.affected ?? 0;
    }
    return this.database.transaction(async (m) => {
      const ids = await this.matchingIds(m, options);
      if (!ids) return 0;
      let removed = 0;
      for (const part of chunks(ids)) {
        const result = await m.createQueryBuilder().delete().from(AgendaJob).where("id IN (:...ids)", { ids: part }).execute();
        removed += result.affected ?? 0;
      }
      return removed;
    });
  }

  async disableJobs(options: RemoveJobsOptions): Promise<number> {
    return this.setDisabled(options, true);
  }

  async enableJobs(options: RemoveJobsOptions): Promise<number> {
    return this.setDisabled(options, false);
  }

  async purgeAllJobs(): Promise<number> {
    return this.database.transaction(async (m) => (await m.createQueryBuilder().delete().from(AgendaJob).execute()).affected ?? 0);
  }

  async saveJobState(job: JobParameters, options: JobRepositoryOptions | undefined): Promise<void> {
    if (!job._id) throw new Error("Cannot save job state without job ID");
    const changes: Partial<Row> = {
      lockedAt: toDate(job.lockedAt),
      nextRunAt: toDate(job.nextRunAt),
      lastRunAt: toDate(job.lastRunAt),
      progress: job.progress ?? null,
      failReason: job.failReason ?? null,
      failCount: job.failCount ?? null,
      failedAt: toDate(job.failedAt),
      lastFinishedAt: toDate(job.lastFinishedAt),
      lastModifiedBy: options?.lastModifiedBy ?? null,
    };
    const matched = await this.database.transaction(async (m) => {
      const update = m.createQueryBuilder().update(AgendaJob).set(row(changes)).where("id = :id AND name = :name", { id: String(job._id), name: job.name });
      // Only the holder saves a job's state: the instance whose claim stands (HOLDER_CONDITION, JobScheduler).
      if (options?.lastModifiedBy) update.andWhere("lastModifiedBy = :holder", { holder: options.lastModifiedBy });
      return (await update.execute()).affected ?? 0;
    });
    if (matched !== 1) throw lostJob(job);
  }

  async saveJob<DATA = unknown>(job: JobParameters<DATA>, options: JobRepositoryOptions | undefined): Promise<JobParameters<DATA>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.database.transaction((m) => this.saveJobIn(m, job, options));
      } catch (error) {
        // Another instance inserted the same single/unique job first: look again, it is there now.
        if (!isUniqueViolation(error) || attempt >= SAVE_ATTEMPTS) throw error;
      }
    }
  }

  async lockJob(job: JobParameters, options: JobRepositoryOptions | undefined): Promise<JobParameters | undefined> {
    if (!job._id) return undefined;
    const id = String(job._id);
    return this.database.transaction(async (m) => {
      const update = m
        .createQueryBuilder()
        .update(AgendaJob)
        .set(row<Row>({ lockedAt: new Date(), lastModifiedBy: options?.lastModifiedBy ?? null }))
        .where("id = :id AND name = :name AND lockedAt IS NULL AND disabled = :no", { id, name: job.name, no: false });
      if (job.nextRunAt) update.andWhere("nextRunAt = :nextRunAt", { nextRunAt: new Date(job.nextRunAt) });
      else update.andWhere("nextRunAt IS NULL");
      const result = await update.execute();
      if (result.affected !== 1) return undefined;
      const locked = await findRow(m, AgendaJob, { id });
      return locked ? toParams(locked) : undefined;
    });
  }

  async unlockJob(job: JobParameters): Promise<void> {
    if (!job._id) return;
    const id = String(job._id);
    // Only jobs that are not being processed (nextRunAt set), as in MongoDB.
    await this.database.transaction((m) =>
      m.createQueryBuilder().update(AgendaJob).set(row<Row>({ lockedAt: null })).where("id = :id AND nextRunAt IS NOT NULL", { id }).execute(),
    );
  }

  async unlockJobs(jobIds: (JobId | string)[]): Promise<void> {
    if (jobIds.length === 0) return;
    await this.database.transaction(async (m) => {
      for (const part of chunks(jobIds.map(String))) {
        await m.createQueryBuilder().update(AgendaJob).set(row<Row>({ lockedAt: null })).where("id IN (:...ids)", { ids: part }).execute();
      }
    });
  }

  async getNextJobToRun(jobName: string, nextScanAt: Date, lockDeadline: Date, now: Date | undefined, options: JobRepositoryOptions | undefined): Promise<JobParameters | undefined> {
    const lockTime = now ?? new Date();
    const condition = { name: jobName, no: false, nextScanAt, lockDeadline };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      // Ordered like MongoJobRepository's default sort (nextRunAt asc, priority desc); ids break ties.
      const candidates = await this.select(this.database.manager)
        .select("j.id", "id")
        .where("j.name = :name AND j.disabled = :no", condition)
        .andWhere(`(${LOCKABLE})`, condition)
        .orderBy("j.nextRunAt", "ASC")
        .addOrderBy("j.priority", "DESC")
        .addOrderBy("j.id", "ASC")
        .limit(CANDIDATES_PER_ROUND)
        .getRawMany<{ id: string }>();
      if (candidates.length === 0) return undefined;
      for (const { id } of candidates) {
        const claimed = await this.database.transaction(async (m) => {
          // The same condition again: the row is claimed only if it is still lockable now.
          const result = await m
            .createQueryBuilder()
            .update(AgendaJob)
            .set(row<Row>({ lockedAt: lockTime, lastModifiedBy: options?.lastModifiedBy ?? null }))
            .where("id = :id AND name = :name AND disabled = :no", { ...condition, id })
            .andWhere(`((lockedAt IS NULL AND nextRunAt <= :nextScanAt) OR lockedAt <= :lockDeadline)`, condition)
            .execute();
          return result.affected === 1 ? findRow(m, AgendaJob, { id }) : null;
        });
        if (claimed) return toParams(claimed);
      }
      // Every candidate was claimed by another instance in the meantime: look again.
    }
    return undefined;
  }

  /** A new job, inside the caller's transaction (HeldJob: written with the run it stands for); resolves with its id. */
  async insertIn(m: EntityManager, job: JobParameters, holder: string): Promise<string> {
    const { _id, unique, uniqueOpts, ...props } = job;
    return String((await this.insert(m, columnsOf(props, holder)))._id);
  }

  /**
   * A held job's end, inside the transaction of its run's terminal transition: removed, or kept as
   * finished history (unlocked, nothing to run). Only while `holder` still holds it.
   */
  async finishIn(m: EntityManager, id: string, holder: string, keepHistory: boolean): Promise<void> {
    if (keepHistory) await updateRows(m, AgendaJob, { lockedAt: null, nextRunAt: null, lastFinishedAt: new Date() }, { id, lastModifiedBy: holder });
    else await removeRows(m, AgendaJob, { id, lastModifiedBy: holder });
  }

  private select(m: EntityManager): SelectQueryBuilder<AgendaJob> {
    return m.createQueryBuilder(AgendaJob, "j");
  }

  private async saveJobIn<DATA>(m: EntityManager, job: JobParameters<DATA>, options: JobRepositoryOptions | undefined): Promise<JobParameters<DATA>> {
    const { _id, unique, uniqueOpts, ...props } = job;
    const values = columnsOf(props, options?.lastModifiedBy);
    const now = new Date();

    if (_id) {
      const id = String(_id);
      const result = await m.createQueryBuilder().update(AgendaJob).set(row(values)).where("id = :id AND name = :name", { id, name: props.name }).execute();
      // A job removed in the meantime: its data comes back unchanged, as in MongoDB.
      if (result.affected !== 1) return job;
      return (await this.reload<DATA>(m, id)) ?? job;
    }

    if (props.type === "single") {
      const existing = await m.findOne(AgendaJob, { where: { name: props.name, type: "single" }, order: { id: "ASC" } });
      if (existing) {
        // A nextRunAt that is already due is kept from the stored job ($setOnInsert in MongoDB).
        const changes: Partial<Row> = { ...values };
        if (props.nextRunAt && new Date(props.nextRunAt) <= now) delete changes.nextRunAt;
        await m.update(AgendaJob, { id: existing.id }, row(changes));
        return (await this.reload<DATA>(m, existing.id)) as JobParameters<DATA>;
      }
      return this.insert<DATA>(m, { ...values, uniqueKey: keyOf(["single", props.name]) });
    }

    if (unique) {
      if (uniqueOpts?.debounce) {
        throw new Error("Debounced jobs (uniqueOpts.debounce) are not supported by the SQL job store; configure MONGO_URL to use them");
      }
      const constraint = uniqueConstraint(unique);
      const uniqueKey = keyOf(["unique", props.name, canonicalJson(unique)]);
      const candidates = await m
        .createQueryBuilder(AgendaJob, "j")
        .where("j.name = :name OR j.uniqueKey = :uniqueKey", { name: props.name, uniqueKey })
        .orderBy("j.id", "ASC")
        .getMany();
      const match =
        candidates.find((c) => c.name === props.name && constraint(toParams(c))) ?? candidates.find((c) => c.uniqueKey === uniqueKey);
      if (match) {
        if (uniqueOpts?.insertOnly) return toParams(match) as JobParameters<DATA>;
        await m.update(AgendaJob, { id: match.id }, row(values));
        return (await this.reload<DATA>(m, match.id)) as JobParameters<DATA>;
      }
      return this.insert<DATA>(m, { ...values, uniqueKey });
    }

    return this.insert<DATA>(m, values);
  }

  /** `values` has every column (columnsOf), so the job is what was written: no read-back. */
  private async insert<DATA>(m: EntityManager, values: Partial<Row>): Promise<JobParameters<DATA>> {
    const inserted = { uniqueKey: null, ...values, id: newId() } as Row;
    await insertRow(m, AgendaJob, inserted);
    return toParams(inserted) as JobParameters<DATA>;
  }

  private async reload<DATA>(m: EntityManager, id: string): Promise<JobParameters<DATA> | undefined> {
    const found = await findRow(m, AgendaJob, { id });
    return found ? (toParams(found) as JobParameters<DATA>) : undefined;
  }

  /** Ids of the jobs `options` selects (MongoJobRepository's filter), or null when it names no criterion. */
  private async matchingIds(m: EntityManager, options: RemoveJobsOptions): Promise<string[] | null> {
    const qb = this.select(m).select(["j.id", "j.data"]);
    let criteria = 0;
    if (options.id) {
      qb.andWhere("j.id = :id", { id: String(options.id) });
      criteria++;
    } else if (Array.isArray(options.ids) && options.ids.length > 0) {
      qb.andWhere("j.id IN (:...ids)", { ids: options.ids.map(String) });
      criteria++;
    }
    if (typeof options.name === "string" && options.name) {
      qb.andWhere("j.name = :name", { name: options.name });
      criteria++;
    } else if (Array.isArray(options.names) && options.names.filter(isString).length > 0) {
      qb.andWhere("j.name IN (:...names)", { names: options.names.filter(isString) });
      criteria++;
    } else if (Array.isArray(options.notNames) && options.notNames.filter(isString).length > 0) {
      qb.andWhere("j.name NOT IN (:...notNames)", { notNames: options.notNames.filter(isString) });
      criteria++;
    }
    if (options.data !== undefined) criteria++;
    if (criteria === 0) return null;
    const rows = await qb.getMany();
    return rows.filter((r) => options.data === undefined || matchesData(r.data, options.data)).map((r) => r.id);
  }

  private async setDisabled(options: RemoveJobsOptions, disabled: boolean): Promise<number> {
    return this.database.transaction(async (m) => {
      const ids = await this.matchingIds(m, options);
      if (!ids) return 0;
      let changed = 0;
      for (const part of chunks(ids)) {
        // Counts the jobs whose flag actually changed, like MongoDB's modifiedCount.
        const result = await m
          .createQueryBuilder()
          .update(AgendaJob)
          .set(row<Row>({ disabled }))
          .where("id IN (:...ids) AND disabled <> :disabled", { ids: part, disabled })
          .execute();
        changed += result.affected ?? 0;
      }
      return changed;
    });
  }
}

/** True when `options` selects one job by its id and by nothing else. */
function isOnlyId(options: RemoveJobsOptions): boolean {
  return Boolean(options.id) && Object.entries(options).every(([key, value]) => key === "id" || value === undefined);
}

/** The stored columns of a job, every absent optional field as NULL (MongoJobRepository's `propsWithModifier`). */
function columnsOf(props: JobProps, lastModifiedBy: string | undefined): Partial<Row> {
  return {
    name: props.name,
    priority: props.priority ?? 0,
    nextRunAt: toDate(props.nextRunAt),
    type: props.type ?? "normal",
    data: props.data === undefined ? null : props.data,
    lockedAt: toDate(props.lockedAt),
    lastFinishedAt: toDate(props.lastFinishedAt),
    failedAt: toDate(props.failedAt),
    failCount: props.failCount ?? null,
    failReason: props.failReason ?? null,
    repeatTimezone: props.repeatTimezone ?? null,
    lastRunAt: toDate(props.lastRunAt),
    repeatInterval: props.repeatInterval === undefined || props.repeatInterval === null ? null : String(props.repeatInterval),
    repeatAt: props.repeatAt ?? null,
    disabled: props.disabled === true,
    progress: props.progress ?? null,
    debounceStartedAt: toDate(props.debounceStartedAt),
    fork: props.fork === true,
    startDate: toDate(props.startDate),
    endDate: toDate(props.endDate),
    skipDays: props.skipDays ?? null,
    lastModifiedBy: lastModifiedBy ?? null,
  };
}

function toParams(r: Row): JobParameters {
  return {
    _id: toJobId(r.id),
    name: r.name,
    priority: r.priority,
    nextRunAt: r.nextRunAt ?? null,
    type: r.type === "single" ? "single" : "normal",
    data: r.data,
    lockedAt: r.lockedAt ?? undefined,
    lastFinishedAt: r.lastFinishedAt ?? undefined,
    failedAt: r.failedAt ?? undefined,
    failCount: r.failCount ?? undefined,
    failReason: r.failReason ?? undefined,
    repeatTimezone: r.repeatTimezone ?? undefined,
    lastRunAt: r.lastRunAt ?? undefined,
    // Milliseconds were stored as their decimal text; Agenda treats "5000" and 5000 alike.
    repeatInterval: r.repeatInterval === null ? undefined : /^\d+$/.test(r.repeatInterval) ? Number(r.repeatInterval) : r.repeatInterval,
    repeatAt: r.repeatAt ?? undefined,
    disabled: r.disabled,
    progress: r.progress ?? undefined,
    lastModifiedBy: r.lastModifiedBy ?? undefined,
    fork: r.fork || undefined,
    debounceStartedAt: r.debounceStartedAt ?? undefined,
    startDate: r.startDate ?? undefined,
    endDate: r.endDate ?? undefined,
    skipDays: r.skipDays ?? undefined,
  };
}

function withState(job: JobParameters, now: Date): JobWithState {
  return { ...job, _id: job._id as JobId, state: computeJobState(job, now) };
}

function toDate(value: Date | string | null | undefined): Date | null {
  return value === undefined || value === null ? null : new Date(value);
}

function keyOf(parts: string[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/** `%`, `_` and the escape character itself, for `LIKE … ESCAPE '!'` (the same on SQLite and MySQL). */
function escapeLike(text: string): string {
  return text.replace(/[!%_]/g, (c) => `!${c}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) return new Date(a as Date).getTime() === new Date(b as Date).getTime();
  return canonicalJson(a) === canonicalJson(b);
}

/** MongoDB equality on one field: equal, or (for an array field and a non-array value) an element equal. */
function fieldMatches(actual: unknown, expected: unknown): boolean {
  if (sameValue(actual, expected ?? null)) return true;
  return Array.isArray(actual) && !Array.isArray(expected) && actual.some((item) => sameValue(item, expected));
}

function valueAt(source: unknown, path: string[]): unknown {
  let current = source;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** A data filter as MongoJobRepository applies it: a plain object matches partially, field by field (dot paths). */
function matchesData(data: unknown, filter: unknown): boolean {
  if (!isPlainObject(filter)) return fieldMatches(data, filter);
  const flat = flatten(filter);
  return Object.entries(flat).every(([path, expected]) => fieldMatches(valueAt(data, path.split(".")), expected));
}

function flatten(value: Record<string, unknown>, prefix = ""): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(child)) Object.assign(out, flatten(child, path));
    else out[path] = child;
  }
  return out;
}

/** A `unique` constraint ({ "data.executionId": "…" }) as a predicate over stored jobs. */
function uniqueConstraint(unique: Record<string, unknown>): (job: JobParameters) => boolean {
  for (const [path, expected] of Object.entries(unique)) {
    if (path.startsWith("$") || (isPlainObject(expected) && Object.keys(expected).some((k) => k.startsWith("$")))) {
      throw new Error(`unique constraint "${path}": query operators are not supported by the SQL job store (use field paths and values)`);
    }
  }
  return (job) => Object.entries(unique).every(([path, expected]) => fieldMatches(valueAt(job, path.split(".")), expected));
}

type SortKey = keyof JobsSort;

function sortKeys(sort: JobsSort | undefined): [SortKey, "asc" | "desc"][] {
  const keys: SortKey[] = ["nextRunAt", "lastRunAt", "lastFinishedAt", "priority", "name", "data"];
  const chosen = keys.filter((key) => sort?.[key] !== undefined).map((key): [SortKey, "asc" | "desc"] => [key, sort![key] === "asc" ? "asc" : "desc"]);
  // MongoJobRepository's default order.
  return chosen.length > 0 ? chosen : [["nextRunAt", "desc"], ["lastRunAt", "desc"]];
}

/** MongoDB's order for these fields: null/missing first ascending; data by its canonical JSON. */
function compareBy(order: [SortKey, "asc" | "desc"][]): (a: JobParameters, b: JobParameters) => number {
  const rank = (value: unknown): number | string | null => {
    if (value === undefined || value === null) return null;
    if (value instanceof Date) return value.getTime();
    if (typeof value === "number" || typeof value === "string") return value;
    return canonicalJson(value);
  };
  return (a, b) => {
    for (const [key, direction] of order) {
      const x = rank(a[key]);
      const y = rank(b[key]);
      const sign = direction === "asc" ? 1 : -1;
      if (x === y) continue;
      if (x === null) return -sign;
      if (y === null) return sign;
      return (x < y ? -1 : 1) * sign;
    }
    return String(a._id) < String(b._id) ? -1 : 1;
  };
}
