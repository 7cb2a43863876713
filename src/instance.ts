import { randomUUID } from "node:crypto";
import os from "node:os";

/**
 * This process among the instances of one deployment: host, pid and a random suffix (a pid is reused
 * across restarts). Job claims carry it (src/jobs/holder.ts), and an execution's RUNNING transition
 * says which instance runs the attempt.
 */
export const INSTANCE_ID = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
