import { randomUUID } from "node:crypto";
import os from "node:os";
import type { JobParameters, JobRepository, JobRepositoryOptions } from "agenda";
import { type Collection, ObjectId } from "mongodb";

/**
 * Job ownership in the job store. Every instance's Agenda has a name of its own; a claim writes it
 * into the job (`lastModifiedBy`), and the holder's later saves of the job's state (its start, lock
 * renewals, its end) apply only while the job still carries that name: one conditional update each,
 * on both stores. An instance whose claim was overtaken (a lock taken over while it was paused, or
 * two claims racing on a store whose claim is not atomic) learns so at its next save, and neither
 * renews nor unlocks a job that is another's.
 */
export function holderName(): string {
  return `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** What a save of a job this instance no longer holds throws (Agenda then leaves the job to its holder). */
export function lostJob(job: JobParameters): Error {
  return new Error(`job ${job._id} (name: ${job.name}) is no longer this instance's: it was removed, or another instance holds it now`);
}

/**
 * The Mongo repository with `saveJobState` conditional on the holder. MongoJobRepository's own
 * filters by id and name only; this is the same `$set` with the holder added to the filter.
 */
export function withHolderSaves(repository: JobRepository, collection: Collection): JobRepository {
  const saveJobState = async (job: JobParameters, options: JobRepositoryOptions | undefined): Promise<void> => {
    if (!job._id) throw new Error("Cannot save job state without job ID");
    const date = (value: Date | string | null | undefined) => (value ? new Date(value) : null);
    const filter: Record<string, unknown> = { _id: new ObjectId(String(job._id)), name: job.name };
    if (options?.lastModifiedBy) filter.lastModifiedBy = options.lastModifiedBy;
    const result = await collection.updateOne(filter, {
      $set: {
        lockedAt: date(job.lockedAt),
        nextRunAt: date(job.nextRunAt),
        lastRunAt: date(job.lastRunAt),
        progress: job.progress ?? null,
        failReason: job.failReason ?? null,
        failCount: job.failCount ?? null,
        failedAt: date(job.failedAt),
        lastFinishedAt: date(job.lastFinishedAt),
        lastModifiedBy: options?.lastModifiedBy ?? null,
      },
    });
    if (result.matchedCount !== 1) throw lostJob(job);
  };
  return new Proxy(repository, {
    get(target, property, receiver) {
      if (property === "saveJobState") return saveJobState;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
