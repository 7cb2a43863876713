import type { ComponentChildren } from "preact";
import type { ApiError } from "../api/errors";
import { ErrorBox } from "./ErrorBox";

/** A query's states in one place: its error, a placeholder until the first answer, then the content. */
export function Loaded<T>({ data, error, children }: { data: T | undefined; error: ApiError | undefined; children: (data: T) => ComponentChildren }) {
  return (
    <>
      <ErrorBox error={error} />
      {data === undefined ? error ? null : <p class="muted">Loading…</p> : children(data)}
    </>
  );
}
