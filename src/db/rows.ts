import type { QueryDeepPartialEntity } from "typeorm";

/** TypeORM's insert/update typings reject `unknown` JSON columns; the values are checked before they get here. */
export function row<T>(values: Partial<T>): QueryDeepPartialEntity<T> {
  return values as QueryDeepPartialEntity<T>;
}
