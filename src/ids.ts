import { v7, validate } from "uuid";

/** A new id: UUIDv7, so ids sort in creation order and pagination can use them as keys. */
export function newId(): string {
  return v7();
}

/** Whether a client-supplied id is a well-formed UUID; anything else never reaches a query. */
export function isId(value: unknown): value is string {
  return typeof value === "string" && validate(value);
}
