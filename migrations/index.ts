import { Foundation1764100000000 } from "./1764100000000-Foundation.js";

/** Every migration, oldest first. */
export const MIGRATIONS = [Foundation1764100000000];
