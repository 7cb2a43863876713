import type { JobParameters, JobRepository } from "agenda";

/**
 * A repository that never hands this process a job it already holds. On MongoDB a lock is atomic and
 * this never triggers; FerretDB v1 (the MongoDB of the tests) runs findAndModify as a read then a
 * write, so two queue fills of one instance racing (a notification and a poll) could both lock one
 * job and run it twice at once. Across instances the race remains (see README, "Job store").
 */
export function guardLocalLocks(repository: JobRepository): JobRepository {
  /** Jobs this process holds, with when it last locked or renewed each. */
  const held = new Map<string, number>();
  // A lock older than the deadline is expired by Agenda's own rule: then it may be taken again.
  const claim = (job: JobParameters | undefined, lockDeadline?: Date): JobParameters | undefined => {
    if (!job?._id) return job;
    const id = String(job._id);
    const lockedAt = held.get(id);
    if (lockedAt !== undefined && (lockDeadline === undefined || lockedAt > lockDeadline.getTime())) return undefined;
    held.set(id, Date.now());
    return job;
  };
  const release = (id: unknown) => held.delete(String(id));
  const guarded: Partial<JobRepository> = {
    getNextJobToRun: async (name, nextScanAt, lockDeadline, now, options) => claim(await repository.getNextJobToRun(name, nextScanAt, lockDeadline, now, options), lockDeadline),
    lockJob: async (...args) => claim(await repository.lockJob(...args)),
    // Agenda saves a job's state without a lock when it finishes, fails or is put back; with one, a renewal.
    saveJobState: async (job, options) => {
      await repository.saveJobState(job, options);
      if (!job._id) return;
      if (!job.lockedAt) release(job._id);
      else if (held.has(String(job._id))) held.set(String(job._id), Date.now());
    },
    unlockJob: async (job) => {
      await repository.unlockJob(job);
      if (job._id) release(job._id);
    },
    unlockJobs: async (ids) => {
      await repository.unlockJobs(ids);
      ids.forEach(release);
    },
  };
  return new Proxy(repository, {
    get(target, property, receiver) {
      if (Object.hasOwn(guarded, property)) return guarded[property as keyof JobRepository];
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
