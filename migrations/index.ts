import { Foundation1764100000000 } from "./1764100000000-Foundation.js";
import { AgendaJobs1764200000001 } from "./1764200000001-AgendaJobs.js";

/** Every migration, oldest first. */
export const MIGRATIONS = [Foundation1764100000000, AgendaJobs1764200000001];
